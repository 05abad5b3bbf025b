{{/*
How every component is deployed: one define-block per kind of resource, each called
by templates/components.yaml with a component context
(dict "root" $ "name" "customers" "component" .Values.components.customers).
The four services and the gateway share these blocks; `salesguard.isService` tells
them apart where they differ (OPA sidecar, database, migrations, probes).
*/}}

{{/*
The component's non-secret settings, as a YAML map of environment variables: the
component's ConfigMap, and the env of its migration Job.
*/}}
{{- define "salesguard.settings" -}}
{{- $values := .root.Values }}
{{- $component := .component }}
{{- $env := dict
      "SALESGUARD_PROFILE" "full"
      "SALESGUARD_ENVIRONMENT" $values.environment
      "SALESGUARD_LOG_LEVEL" $values.logLevel
      "SALESGUARD_DATA_DIR" "/tmp/salesguard"
      "SALESGUARD_SHUTDOWN_GRACE_SECONDS" (toString (int $values.shutdownGraceSeconds)) }}
{{- /* Every component reads the page sizes: one value for all (values.yaml, pageSize). */}}
{{- with ($values.pageSize).max }}
{{- $_ := set $env "SALESGUARD_MAX_PAGE_SIZE" (toString (int .)) }}
{{- end }}
{{- with ($values.pageSize).default }}
{{- $_ := set $env "SALESGUARD_DEFAULT_PAGE_SIZE" (toString (int .)) }}
{{- end }}
{{- if include "salesguard.isService" . }}
{{- /* Explicit: a pod listens on every interface at the Service's port (without
GRPC_PORT a service listens at the port of its own address, as under `make run`). */}}
{{- $_ := set $env "SALESGUARD_GRPC_HOST" "0.0.0.0" }}
{{- $_ := set $env "SALESGUARD_GRPC_PORT" (toString (int $component.port)) }}
{{- $_ := set $env "SALESGUARD_OPA_URL" (printf "http://127.0.0.1:%d" (int $values.opa.port)) }}
{{- if or $values.opa.decisionLogs.console $values.opa.decisionLogs.serviceUrl }}
{{- /* Decision logs are the audit trail of every decision: each must reach OPA, none
come from the service's short-lived decision cache. */}}
{{- $_ := set $env "SALESGUARD_POLICY_DECISION_CACHE_SECONDS" "0" }}
{{- end }}
{{- $_ := set $env "SALESGUARD_MIGRATE_ON_START" (ternary "false" "true" $values.migrations.enabled) }}
{{- $_ := set $env "SALESGUARD_S3_ENDPOINT" $values.objectStore.endpoint }}
{{- $_ := set $env "SALESGUARD_S3_BUCKET" $values.objectStore.bucket }}
{{- $_ := set $env "SALESGUARD_S3_REGION" $values.objectStore.region }}
{{- $_ := set $env "SALESGUARD_S3_SECURE" (toString $values.objectStore.secure) }}
{{- else }}
{{- $_ := set $env "SALESGUARD_GATEWAY_HOST" "0.0.0.0" }}
{{- $_ := set $env "SALESGUARD_GATEWAY_PORT" (toString (int $component.port)) }}
{{- with $values.auth.jwksUrl }}
{{- $_ := set $env "SALESGUARD_JWKS_URL" . }}
{{- end }}
{{- with $values.auth.issuer }}
{{- $_ := set $env "SALESGUARD_JWT_ISSUER" . }}
{{- end }}
{{- with $values.auth.audience }}
{{- $_ := set $env "SALESGUARD_JWT_AUDIENCE" . }}
{{- end }}
{{- end }}
{{- range $peer := $component.calls }}
{{- $callee := index $values.components $peer }}
{{- if $callee.enabled }}
{{- $address := printf "%s:%d" (include "salesguard.componentName" (dict "root" $.root "name" $peer)) (int $callee.port) }}
{{- $_ := set $env (printf "SALESGUARD_%s_ADDRESS" (upper $peer)) $address }}
{{- end }}
{{- end }}
{{- /* Telemetry through the standard OTEL_* variables (salesguard.telemetry). */}}
{{- range $name, $value := $values.telemetry.env }}
{{- $_ := set $env $name (toString $value) }}
{{- end }}
{{- with $values.telemetry.otlpEndpoint }}
{{- if hasKey $env "OTEL_EXPORTER_OTLP_ENDPOINT" }}
{{- fail "telemetry.env.OTEL_EXPORTER_OTLP_ENDPOINT: set telemetry.otlpEndpoint instead" }}
{{- end }}
{{- $_ := set $env "OTEL_EXPORTER_OTLP_ENDPOINT" . }}
{{- end }}
{{- if $values.metrics.enabled }}
{{- $_ := set $env "SALESGUARD_METRICS_PORT" (toString (int $values.metrics.port)) }}
{{- end }}
{{- with include "salesguard.publicUrl" .root }}
{{- $_ := set $env "SALESGUARD_PUBLIC_URL" . }}
{{- end }}
{{- $secrets := list "databaseUrl" "internalSecret" "fieldEncryptionKey" "blindIndexKey" "auditChainKey" "jwtSecret" "s3AccessKey" "s3SecretKey" }}
{{- range $key, $value := $component.settings }}
{{- $name := printf "SALESGUARD_%s" ($key | snakecase | upper) }}
{{- if has $key $secrets }}
{{- fail (printf "components.%s.settings.%s: a secret belongs in the Secret named by secrets.existingSecret, not in values" $.name $key) }}
{{- end }}
{{- if hasKey $env $name }}
{{- fail (printf "components.%s.settings.%s: %s is set by the chart from its own values" $.name $key $name) }}
{{- end }}
{{- $_ := set $env $name (ternary $value (toJson $value) (kindIs "string" $value)) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{/*
The component's secret settings: env entries read from Secrets. Each component
gets only the keys its code uses (its settings' `secrets_used`; tests/deploy checks
the two agree): the contact-field and audit-chain keys only reach customers, the blind-index key
customers and attendance (call logs match phone numbers). In the dev environment
the crypto keys may be missing (the code then uses its dev keys); in production a
missing key keeps the pod from starting. Pass "objectStore" true to include the S3
credentials.
*/}}
{{- define "salesguard.secretEnv" -}}
{{- $values := .root.Values }}
{{- $secret := include "salesguard.secretName" .root }}
{{- $keys := $values.secrets.keys }}
{{- $optional := eq $values.environment "dev" }}
{{- $refs := list (list "SALESGUARD_INTERNAL_SECRET" $secret $keys.internalSecret $optional) }}
{{- if eq .name "customers" }}
{{- $refs = append $refs (list "SALESGUARD_FIELD_ENCRYPTION_KEY" $secret $keys.fieldEncryptionKey $optional) }}
{{- $refs = append $refs (list "SALESGUARD_AUDIT_CHAIN_KEY" $secret $keys.auditChainKey $optional) }}
{{- end }}
{{- if has .name (list "customers" "attendance") }}
{{- $refs = append $refs (list "SALESGUARD_BLIND_INDEX_KEY" $secret $keys.blindIndexKey $optional) }}
{{- end }}
{{- if include "salesguard.isService" . }}
{{- $database := .component.database }}
{{- $refs = append $refs (list "SALESGUARD_DATABASE_URL" ($database.secretName | default $secret) $database.secretKey false) }}
{{- if .objectStore }}
{{- $refs = append $refs (list "SALESGUARD_S3_ACCESS_KEY" $secret $keys.s3AccessKey false) }}
{{- $refs = append $refs (list "SALESGUARD_S3_SECRET_KEY" $secret $keys.s3SecretKey false) }}
{{- end }}
{{- else if not $values.auth.jwksUrl }}
{{- $refs = append $refs (list "SALESGUARD_JWT_SECRET" $secret $keys.jwtSecret $optional) }}
{{- end }}
{{- $env := list }}
{{- range $refs }}
{{- $ref := dict "name" (index . 1) "key" (index . 2) }}
{{- if index . 3 }}
{{- $_ := set $ref "optional" true }}
{{- end }}
{{- $env = append $env (dict "name" (index . 0) "valueFrom" (dict "secretKeyRef" $ref)) }}
{{- end }}
{{- toYaml $env }}
{{- end }}

{{- define "salesguard.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "salesguard.componentName" . }}
  labels:
    {{- include "salesguard.componentLabels" . | nindent 4 }}
  {{- with .component.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end }}

{{- define "salesguard.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "salesguard.componentName" . }}
  labels:
    {{- include "salesguard.componentLabels" . | nindent 4 }}
data:
  {{- include "salesguard.settings" . | nindent 2 }}
{{- end }}

{{- define "salesguard.service" -}}
{{- $portName := ternary "grpc" "http" (eq (include "salesguard.isService" .) "true") -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "salesguard.componentName" . }}
  labels:
    {{- include "salesguard.componentLabels" . | nindent 4 }}
spec:
  type: ClusterIP
  {{- if eq $portName "grpc" }}
  # Headless: the name resolves to every ready pod, and callers balance their gRPC calls
  # over them (one long-lived HTTP/2 connection through a virtual IP would pin one pod).
  clusterIP: None
  {{- end }}
  selector:
    {{- include "salesguard.selectorLabels" . | nindent 4 }}
  ports:
    - name: {{ $portName }}
      port: {{ .component.port }}
      targetPort: {{ $portName }}
      protocol: TCP
    {{- if .root.Values.metrics.enabled }}
    - name: metrics
      port: {{ .root.Values.metrics.port }}
      targetPort: metrics
      protocol: TCP
    {{- end }}
{{- end }}

{{/* The /tmp emptyDir every container writes to (the root filesystem is read-only). */}}
{{- define "salesguard.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .root.Values.tmpSizeLimit }}
{{- end }}

{{/*
The OPA sidecar: decisions on the pod's loopback only, policies from the ConfigMap.
With "nativeSidecar" true (a job's pod) it is an init container that keeps running
(restartPolicy: Always): the job starts once OPA answers, and the pod completes when
the job does.
*/}}
{{- define "salesguard.opaContainer" -}}
{{- $values := .root.Values }}
{{- $opa := $values.opa -}}
- name: opa
  image: {{ printf "%s:%s" $opa.image.repository $opa.image.tag }}
  imagePullPolicy: {{ $opa.image.pullPolicy }}
  {{- if .nativeSidecar }}
  restartPolicy: Always
  startupProbe:
    httpGet:
      path: /health
      port: {{ $opa.diagnosticPort }}
    periodSeconds: 1
    failureThreshold: 60
  {{- end }}
  args:
    - run
    - --server
    - --addr=127.0.0.1:{{ $opa.port }}
    - --diagnostic-addr=0.0.0.0:{{ $opa.diagnosticPort }}
    - --config-file=/config/opa/config.yaml
    # The ConfigMap volume's own `..data` links would load every file twice.
    - --ignore=..*
    - --skip-version-check
    - --log-format=json
    - --log-level={{ $opa.logLevel }}
    - --set=labels.component={{ .name }}
    # Keep deciding while the service drains its requests.
    - --shutdown-wait-period={{ $values.shutdownGraceSeconds }}
    - /policies
  readinessProbe:
    httpGet:
      path: /health
      port: {{ $opa.diagnosticPort }}
    periodSeconds: 5
  livenessProbe:
    httpGet:
      path: /health
      port: {{ $opa.diagnosticPort }}
    periodSeconds: 10
    failureThreshold: 3
  resources:
    {{- toYaml $opa.resources | nindent 4 }}
  securityContext:
    {{- toYaml $values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: policies
      mountPath: /policies
      readOnly: true
    - name: opa-config
      mountPath: /config/opa
      readOnly: true
{{- end }}

{{/* The volumes the OPA sidecar mounts: the policies and its configuration. */}}
{{- define "salesguard.opaVolumes" -}}
- name: policies
  configMap:
    name: {{ include "salesguard.fullname" .root }}-policies
    # One item per file, so the directories (and data.json's place in `data`) survive.
    items:
      {{- range $key, $path := include "salesguard.policyFiles" .root | fromYaml }}
      - key: {{ $key }}
        path: {{ $path }}
      {{- end }}
- name: opa-config
  configMap:
    name: {{ include "salesguard.fullname" .root }}-opa
{{- end }}

{{- define "salesguard.deployment" -}}
{{- $values := .root.Values }}
{{- $component := .component }}
{{- $service := include "salesguard.isService" . }}
{{- $portName := ternary "grpc" "http" (eq $service "true") -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "salesguard.componentName" . }}
  labels:
    {{- include "salesguard.componentLabels" . | nindent 4 }}
spec:
  {{- if not $component.autoscaling.enabled }}
  replicas: {{ $component.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 0
  selector:
    matchLabels:
      {{- include "salesguard.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "salesguard.componentLabels" . | nindent 8 }}
      annotations:
        checksum/config: {{ include "salesguard.settings" . | sha256sum }}
        {{- if $service }}
        checksum/policies: {{ include "salesguard.policiesData" .root | sha256sum }}
        checksum/opa-config: {{ include "salesguard.opaConfig" .root | sha256sum }}
        {{- end }}
        {{- if and $values.metrics.enabled $values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $values.metrics.port | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $component.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "salesguard.componentName" . }}
      automountServiceAccountToken: false
      # Service links would add SALESGUARD_<SERVICE>_PORT=tcp://… variables for a release
      # named salesguard, inside the settings' own SALESGUARD_ namespace.
      enableServiceLinks: false
      terminationGracePeriodSeconds: {{ add $values.shutdownGraceSeconds 10 }}
      {{- with $values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ .name }}
          image: {{ include "salesguard.image" . }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          args: ["serve", {{ .name | quote }}]
          ports:
            - name: {{ $portName }}
              containerPort: {{ $component.port }}
              protocol: TCP
            {{- if $values.metrics.enabled }}
            {{- include "salesguard.checkMetricsPort" . }}
            - name: metrics
              containerPort: {{ $values.metrics.port }}
              protocol: TCP
            {{- end }}
          envFrom:
            - configMapRef:
                name: {{ include "salesguard.componentName" . }}
          env:
            {{- include "salesguard.secretEnv" (merge (dict "objectStore" true) .) | nindent 12 }}
          {{- if $service }}
          # gRPC health: `liveness` answers while the process serves; the overall name ""
          # is NOT_SERVING while the database or the policy engine does not answer, which
          # takes the pod out of its Service without restarting it.
          startupProbe:
            grpc:
              port: {{ $component.port }}
              service: liveness
            periodSeconds: 2
            failureThreshold: 60
          readinessProbe:
            grpc:
              port: {{ $component.port }}
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            grpc:
              port: {{ $component.port }}
              service: liveness
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          {{- else }}
          startupProbe:
            httpGet:
              path: /healthz
              port: {{ $portName }}
            periodSeconds: 2
            failureThreshold: 30
          readinessProbe:
            # Ready when the people directory answers: no request can be authenticated without it.
            httpGet:
              path: /readyz
              port: {{ $portName }}
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            httpGet:
              path: /healthz
              port: {{ $portName }}
            periodSeconds: 10
            timeoutSeconds: 2
            failureThreshold: 3
          {{- end }}
          resources:
            {{- toYaml $component.resources | nindent 12 }}
          securityContext:
            {{- toYaml $values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
        {{- if $service }}
        {{- include "salesguard.opaContainer" . | nindent 8 }}
        {{- end }}
      volumes:
        {{- include "salesguard.tmpVolume" . | nindent 8 }}
        {{- if $service }}
        {{- include "salesguard.opaVolumes" . | nindent 8 }}
        {{- end }}
      {{- if $values.spreadAcrossNodes }}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: ScheduleAnyway
          labelSelector:
            matchLabels:
              {{- include "salesguard.selectorLabels" . | nindent 14 }}
      {{- end }}
      {{- with $component.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $component.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $component.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* Fails when the metrics port is one the pod already uses. */}}
{{- define "salesguard.checkMetricsPort" -}}
{{- $values := .root.Values }}
{{- $taken := list (int .component.port) }}
{{- if include "salesguard.isService" . }}
{{- $taken = concat $taken (list (int $values.opa.port) (int $values.opa.diagnosticPort)) }}
{{- end }}
{{- if has (int $values.metrics.port) $taken }}
{{- fail (printf "metrics.port %d is already used in the %s pod" (int $values.metrics.port) .name) }}
{{- end }}
{{- end }}

{{- define "salesguard.hpa" -}}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "salesguard.componentName" . }}
  labels:
    {{- include "salesguard.componentLabels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "salesguard.componentName" . }}
  minReplicas: {{ .component.autoscaling.minReplicas }}
  maxReplicas: {{ .component.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .component.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}

{{- define "salesguard.pdb" -}}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "salesguard.componentName" . }}
  labels:
    {{- include "salesguard.componentLabels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .component.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "salesguard.selectorLabels" . | nindent 6 }}
{{- end }}

{{/* DNS egress, which every pod needs. */}}
{{- define "salesguard.dnsEgress" -}}
{{- $dns := .root.Values.networkPolicy.dns -}}
- to:
    - namespaceSelector:
        {{- toYaml $dns.namespaceSelector | nindent 8 }}
      podSelector:
        {{- toYaml $dns.podSelector | nindent 8 }}
  ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end }}

{{/*
Who may reach a component, and where it may go: the gateway is reached by
networkPolicy.gatewayFrom; a service by the gateway and by the components whose
`calls` name it. Egress: DNS, the services it calls, its own database, the object
store, and the collectors that are configured. Nothing reaches OPA: it listens on
the pod's loopback, and no rule opens its port.
*/}}
{{- define "salesguard.networkPolicy" -}}
{{- $values := .root.Values }}
{{- $network := $values.networkPolicy }}
{{- $component := .component }}
{{- $service := include "salesguard.isService" . -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "salesguard.componentName" . }}
  labels:
    {{- include "salesguard.componentLabels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "salesguard.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    - Egress
  ingress:
    {{- if $service }}
    {{- $callers := list }}
    {{- range $caller, $other := $values.components }}
    {{- if and $other.enabled (or (eq $caller "gateway") (has $.name $other.calls)) (ne $caller $.name) }}
    {{- $callers = append $callers $caller }}
    {{- end }}
    {{- end }}
    {{- if $callers }}
    - from:
        {{- range $callers }}
        - podSelector:
            matchLabels:
              {{- include "salesguard.selectorLabels" (dict "root" $.root "name" .) | nindent 14 }}
        {{- end }}
      ports:
        - protocol: TCP
          port: {{ $component.port }}
    {{- end }}
    {{- else }}
    - {{- with $network.gatewayFrom }}
      from:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        - protocol: TCP
          port: {{ $component.port }}
    {{- end }}
  egress:
    {{- include "salesguard.dnsEgress" . | nindent 4 }}
    {{- range $peer := $component.calls }}
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
    {{- if $service }}
    {{- include "salesguard.egressRule" (dict "to" $component.database.egress "what" (printf "components.%s.database.egress" .name)) | nindent 4 }}
    {{- include "salesguard.egressRule" (dict "to" $network.objectStore "what" "networkPolicy.objectStore") | nindent 4 }}
    {{- if $values.opa.decisionLogs.serviceUrl }}
    {{- include "salesguard.egressRule" (dict "to" $network.decisionLogs "what" "networkPolicy.decisionLogs") | nindent 4 }}
    {{- end }}
    {{- else if $values.auth.jwksUrl }}
    {{- include "salesguard.egressRule" (dict "to" $network.identityProvider "what" "networkPolicy.identityProvider") | nindent 4 }}
    {{- end }}
    {{- if $values.telemetry.otlpEndpoint }}
    {{- include "salesguard.egressRule" (dict "to" $network.telemetry "what" "networkPolicy.telemetry") | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
The migration Job of a service: `salesguard migrate <service>` before the release's
resources are installed or upgraded. It runs with the service's own settings (inline:
the ConfigMap does not exist yet on install) and without the object-store credentials.
*/}}
{{- define "salesguard.migrationJob" -}}
{{- $values := .root.Values }}
{{- $jobContext := dict "root" .root "name" (printf "%s-migrations" .name) -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "salesguard.componentName" . }}-migrate
  labels:
    {{- include "salesguard.componentLabels" $jobContext | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: {{ $values.migrations.backoffLimit }}
  activeDeadlineSeconds: {{ $values.migrations.activeDeadlineSeconds }}
  template:
    metadata:
      labels:
        {{- include "salesguard.componentLabels" $jobContext | nindent 8 }}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      enableServiceLinks: false
      {{- with $values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $values.podSecurityContext | nindent 8 }}
      containers:
        - name: migrate
          image: {{ include "salesguard.image" . }}
          imagePullPolicy: {{ $values.image.pullPolicy }}
          args: ["migrate", {{ .name | quote }}]
          env:
            {{- range $name, $value := include "salesguard.settings" . | fromYaml }}
            - name: {{ $name }}
              value: {{ $value | quote }}
            {{- end }}
            {{- include "salesguard.secretEnv" (merge (dict "objectStore" false) .) | nindent 12 }}
          resources:
            {{- toYaml $values.migrations.resources | nindent 12 }}
          securityContext:
            {{- toYaml $values.containerSecurityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
      volumes:
        {{- include "salesguard.tmpVolume" . | nindent 8 }}
      {{- with .component.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .component.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/*
The NetworkPolicy of a service's migration Job: its own database and DNS, nothing
else. A hook as well (created before the Job, removed with it), since regular
resources do not exist yet when pre-install hooks run.
*/}}
{{- define "salesguard.migrationNetworkPolicy" -}}
{{- $jobContext := dict "root" .root "name" (printf "%s-migrations" .name) -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "salesguard.componentName" . }}-migrate
  labels:
    {{- include "salesguard.componentLabels" $jobContext | nindent 4 }}
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-10"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
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
    {{- include "salesguard.egressRule" (dict "to" .component.database.egress "what" (printf "components.%s.database.egress" .name)) | nindent 4 }}
{{- end }}
