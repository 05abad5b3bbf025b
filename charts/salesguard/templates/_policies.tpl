{{/*
The policy files OPA loads, as a YAML map of ConfigMap key → path under policies/:
every .rego file but the tests, and the data documents (data.json, data.yaml), whose
directory is their place in `data`. A ConfigMap key cannot hold a "/", so the key is
the path with dots; the pods' volume maps each key back to its path.
*/}}
{{- define "salesguard.policyFiles" -}}
{{- $files := dict }}
{{- range $path, $_ := .Files.Glob "policies/**" }}
{{- $file := base $path }}
{{- $rego := and (hasSuffix ".rego" $file) (not (hasSuffix "_test.rego" $file)) }}
{{- if or $rego (has $file (list "data.json" "data.yaml" "data.yml")) }}
{{- $relative := trimPrefix "policies/" $path }}
{{- $key := $relative | replace "/" "." }}
{{- if hasKey $files $key }}
{{- fail (printf "policies/%s and policies/%s would share the ConfigMap key %s" (get $files $key) $relative $key) }}
{{- end }}
{{- $_ := set $files $key $relative }}
{{- end }}
{{- end }}
{{- if not $files }}
{{- fail "no policies found under the chart's `policies` (a link to the repository's policies/ directory): package the chart from the repository" }}
{{- end }}
{{- toYaml $files }}
{{- end }}

{{/* The policies ConfigMap's data: each file's exact content. */}}
{{- define "salesguard.policiesData" -}}
{{- range $key, $path := include "salesguard.policyFiles" . | fromYaml }}
{{ $key }}: {{ $.Files.Get (printf "policies/%s" $path) | toJson }}
{{- end }}
{{- end }}

{{/* OPA's configuration file: decision logs, then opa.extraConfig over it. */}}
{{- define "salesguard.opaConfig" -}}
{{- $opa := .Values.opa }}
{{- $logs := dict "console" $opa.decisionLogs.console }}
{{- $config := dict "decision_logs" $logs }}
{{- with $opa.decisionLogs.serviceUrl }}
{{- $_ := set $config "services" (dict "decisionlogs" (dict "url" .)) }}
{{- $_ := set $logs "service" "decisionlogs" }}
{{- end }}
{{- toYaml (mustMergeOverwrite $config (deepCopy $opa.extraConfig)) }}
{{- end }}
