{{/* The release's full name: the release name, or release-chart when the release name lacks the chart's. */}}
{{- define "dancu-bus.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* A service's resource name; called with (dict "root" $ "name" "resolver"). */}}
{{- define "dancu-bus.serviceName" -}}
{{- printf "%s-%s" (include "dancu-bus.fullname" .root) .name -}}
{{- end -}}

{{/* Labels every resource of the release carries. */}}
{{- define "dancu-bus.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: dancu-bus
{{- end -}}

{{/* What selects one service's pods; called with (dict "root" $ "name" "resolver"). */}}
{{- define "dancu-bus.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "dancu-bus.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "dancu-bus.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "dancu-bus.bootstrapServers" -}}
{{- default (printf "%s-kafka-bootstrap:9093" .Values.kafka.cluster) .Values.kafka.bootstrapServers -}}
{{- end -}}

{{- define "dancu-bus.caSecret" -}}
{{- default (printf "%s-cluster-ca-cert" .Values.kafka.cluster) .Values.kafka.caSecret -}}
{{- end -}}

{{/* The services enabled, in name order, as a comma-separated list (empty when none). */}}
{{- define "dancu-bus.enabledServices" -}}
{{- $names := list -}}
{{- range $name, $svc := .Values.services -}}
{{- if $svc.enabled -}}{{- $names = append $names $name -}}{{- end -}}
{{- end -}}
{{- join "," $names -}}
{{- end -}}
