{{/*
Names, labels and images. Helpers taking the root context are called with `.`;
component helpers take a component context: (dict "root" $ "name" "customers").
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "salesguard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The prefix of every resource name: the release name, with the chart name unless it is in it already. */}}
{{- define "salesguard.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "salesguard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every resource of the release carries. */}}
{{- define "salesguard.labels" -}}
helm.sh/chart: {{ include "salesguard.chart" . }}
app.kubernetes.io/name: {{ include "salesguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: salesguard
{{- end }}

{{/* A component's resource name: <fullname>-<component>. */}}
{{- define "salesguard.componentName" -}}
{{- printf "%s-%s" (include "salesguard.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels that select a component's pods. */}}
{{- define "salesguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "salesguard.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* Labels of a component's resources and pods. */}}
{{- define "salesguard.componentLabels" -}}
{{ include "salesguard.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{/* A component's image: image.registry/repository:tag. */}}
{{- define "salesguard.image" -}}
{{- $component := index .root.Values.components .name }}
{{- $tag := $component.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- $repository := $component.image.repository }}
{{- with .root.Values.image.registry }}
{{- $repository = printf "%s/%s" (trimSuffix "/" .) $repository }}
{{- end }}
{{- printf "%s:%s" $repository $tag }}
{{- end }}

{{/* Whether a component is one of the gRPC services (anything but the gateway): "true" or "". */}}
{{- define "salesguard.isService" -}}
{{- if ne .name "gateway" }}true{{ end }}
{{- end }}

{{/*
The URL clients reach the gateway at (SALESGUARD_PUBLIC_URL: where download links
point): publicUrl, else the Ingress's or the HTTPRoute's host; "" leaves the default.
*/}}
{{- define "salesguard.publicUrl" -}}
{{- $values := .Values }}
{{- if $values.publicUrl }}
{{- trimSuffix "/" $values.publicUrl }}
{{- else if $values.ingress.enabled }}
{{- printf "%s://%s" (ternary "https" "http" (ne $values.ingress.tlsSecretName "")) $values.ingress.host }}
{{- else if and $values.httpRoute.enabled $values.httpRoute.hostnames }}
{{- printf "https://%s" (first $values.httpRoute.hostnames) }}
{{- end }}
{{- end }}

{{/* The Secret a secret setting is read from. */}}
{{- define "salesguard.secretName" -}}
{{- required "secrets.existingSecret must name the Secret that holds the secret settings" .Values.secrets.existingSecret }}
{{- end }}

{{/*
One egress rule, as a YAML list of one item, to a destination value (networkPolicy.*,
database.egress): its namespace/pod selectors when it has any (they win over a cidr
merged in from the defaults), else an ipBlock of its cidr.
Called with (dict "to" $destination "what" "networkPolicy.objectStore").
*/}}
{{- define "salesguard.egressRule" -}}
{{- $to := .to }}
{{- $peer := dict }}
{{- if or $to.namespaceSelector $to.podSelector }}
{{- with $to.namespaceSelector }}{{ $_ := set $peer "namespaceSelector" . }}{{ end }}
{{- with $to.podSelector }}{{ $_ := set $peer "podSelector" . }}{{ end }}
{{- else if $to.cidr }}
{{- $block := dict "cidr" $to.cidr }}
{{- with $to.except }}{{ $_ := set $block "except" . }}{{ end }}
{{- $_ := set $peer "ipBlock" $block }}
{{- else }}
{{- fail (printf "%s needs a cidr, a namespaceSelector or a podSelector" .what) }}
{{- end }}
{{- toYaml (list (dict "to" (list $peer) "ports" (list (dict "protocol" "TCP" "port" (int $to.port))))) }}
{{- end }}
