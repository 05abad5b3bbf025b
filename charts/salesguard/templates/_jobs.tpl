{{/*
The services' scheduled jobs (salesguard.jobs): one CronJob per entry of jobs.schedules,
running `salesguard job <service>.<job>` with the service's image, ConfigMap, secret
references (no object-store credentials) and hardening, and an OPA sidecar as a native
sidecar so that the pod completes when the job does. Called with a job context:
(dict "root" $ "name" "customers" "component" .Values.components.customers
      "key" "contactReadsRetention" "schedule" .Values.jobs.schedules.contactReadsRetention).
*/}}

{{/* The service a job belongs to: the part of its name before the first dot. */}}
{{- define "salesguard.jobService" -}}
{{- $parts := splitList "." . }}
{{- if or (ne (len $parts) 2) (not (index $parts 1)) }}
{{- fail (printf "jobs.schedules: %q is not a job name of the form <service>.<job>" .) }}
{{- end }}
{{- first $parts }}
{{- end }}

{{/* The component name of a service's job pods, apart from the service's own pods. */}}
{{- define "salesguard.jobsComponent" -}}
{{- printf "%s-jobs" .name }}
{{- end }}

{{- define "salesguard.cronJob" -}}
{{- $values := .root.Values }}
{{- $jobs := $values.jobs }}
{{- $jobContext := dict "root" .root "name" (include "salesguard.jobsComponent" .) }}
{{- $jobName := .schedule.job -}}
apiVersion: batch/v1
kind: CronJob
metadata:
  # CronJob names stay within 52 characters: Kubernetes appends 11 to name each run.
  name: {{ printf "%s-%s" (include "salesguard.fullname" .root) ($jobName | replace "." "-") | trunc 52 | trimSuffix "-" }}
  labels:
    {{- include "salesguard.componentLabels" $jobContext | nindent 4 }}
    salesguard.io/job: {{ $jobName | quote }}
spec:
  schedule: {{ .schedule.schedule | quote }}
  timeZone: {{ $jobs.timeZone | quote }}
  # One run at a time; the database lock also keeps a manual run from overlapping.
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: {{ $jobs.startingDeadlineSeconds }}
  successfulJobsHistoryLimit: {{ $jobs.successfulJobsHistoryLimit }}
  failedJobsHistoryLimit: {{ $jobs.failedJobsHistoryLimit }}
  jobTemplate:
    metadata:
      labels:
        {{- include "salesguard.componentLabels" $jobContext | nindent 8 }}
        salesguard.io/job: {{ $jobName | quote }}
    spec:
      backoffLimit: {{ $jobs.backoffLimit }}
      activeDeadlineSeconds: {{ $jobs.activeDeadlineSeconds }}
      template:
        metadata:
          labels:
            {{- include "salesguard.componentLabels" $jobContext | nindent 12 }}
            salesguard.io/job: {{ $jobName | quote }}
          annotations:
            checksum/policies: {{ include "salesguard.policiesData" .root | sha256sum }}
        spec:
          restartPolicy: Never
          automountServiceAccountToken: false
          enableServiceLinks: false
          {{- with $values.imagePullSecrets }}
          imagePullSecrets:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- toYaml $values.podSecurityContext | nindent 12 }}
          initContainers:
            {{- include "salesguard.opaContainer" (merge (dict "nativeSidecar" true) .) | nindent 12 }}
          containers:
            - name: job
              image: {{ include "salesguard.image" . }}
              imagePullPolicy: {{ $values.image.pullPolicy }}
              args: ["job", {{ $jobName | quote }}]
              envFrom:
                - configMapRef:
                    name: {{ include "salesguard.componentName" . }}
              env:
                {{- include "salesguard.secretEnv" (merge (dict "objectStore" false) .) | nindent 16 }}
              resources:
                {{- toYaml $jobs.resources | nindent 16 }}
              securityContext:
                {{- toYaml $values.containerSecurityContext | nindent 16 }}
              volumeMounts:
                - name: tmp
                  mountPath: /tmp
          volumes:
            {{- include "salesguard.tmpVolume" . | nindent 12 }}
            {{- include "salesguard.opaVolumes" . | nindent 12 }}
          {{- with .component.nodeSelector }}
          nodeSelector:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          {{- with .component.tolerations }}
          tolerations:
            {{- toYaml . | nindent 12 }}
          {{- end }}
{{- end }}

{{/*
The NetworkPolicy of a service's job pods: nothing reaches them; they reach DNS, the
services their service calls, its database, and the collectors that are configured.
Called with a component context.
*/}}
{{- define "salesguard.jobsNetworkPolicy" -}}
{{- $values := .root.Values }}
{{- $network := $values.networkPolicy }}
{{- $jobContext := dict "root" .root "name" (include "salesguard.jobsComponent" .) -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "salesguard.componentName" $jobContext }}
  labels:
    {{- include "salesguard.componentLabels" $jobContext | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "salesguard.selectorLabels" $jobContext | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress: []
  egress:
    {{- include "salesguard.dnsEgress" . | nindent 4 }}
    {{- range $peer := .component.calls }}
    {{- $callee := index $values.components $peer }}
    {{- if $callee.enabled }}
    - to:
        - podSelector:
            matchLabels:
              {{- include "salesguard.selectorLabels" (dict "root" $.root "name" $peer) | nindent 14 }}
      ports:
        - protocol: TCP
          port: {{ $callee.port }}
    {{- end }}
    {{- end }}
    {{- include "salesguard.egressRule" (dict "to" .component.database.egress "what" (printf "components.%s.database.egress" .name)) | nindent 4 }}
    {{- if $values.opa.decisionLogs.serviceUrl }}
    {{- include "salesguard.egressRule" (dict "to" $network.decisionLogs "what" "networkPolicy.decisionLogs") | nindent 4 }}
    {{- end }}
    {{- if $values.telemetry.otlpEndpoint }}
    {{- include "salesguard.egressRule" (dict "to" $network.telemetry "what" "networkPolicy.telemetry") | nindent 4 }}
    {{- end }}
{{- end }}
