{{/* Names, labels and the few values derived from others. */}}

{{- define "conveyor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name: the release name alone when it already contains the chart name. */}}
{{- define "conveyor.fullname" -}}
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

{{- define "conveyor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "conveyor.labels" -}}
helm.sh/chart: {{ include "conveyor.chart" . }}
{{ include "conveyor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: conveyor
{{- end }}

{{- define "conveyor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "conveyor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The settings ConfigMap. Named from the release alone because the official chart's
`extraEnvFrom` (values.yaml, airflow.extraEnvFrom) is templated in the subchart, where only
`.Release.Name` is shared with this chart.
*/}}
{{- define "conveyor.settingsConfigMap" -}}
{{- printf "%s-settings" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "conveyor.mlflowName" -}}
{{- printf "%s-mlflow" (include "conveyor.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* An image reference: repository@digest when a digest is given, else repository:tag. */}}
{{- define "conveyor.imageRef" -}}
{{- if .digest }}
{{- printf "%s@%s" .repository .digest }}
{{- else }}
{{- printf "%s:%s" .repository (toString (required (printf "a tag or a digest is required for image %s" .repository) .tag)) }}
{{- end }}
{{- end }}

{{/* The Conveyor image, as the official chart runs it (airflow.images.airflow). */}}
{{- define "conveyor.image" -}}
{{- include "conveyor.imageRef" .Values.airflow.images.airflow }}
{{- end }}

{{- define "conveyor.mlflowImage" -}}
{{- if .Values.mlflow.image.repository }}
{{- include "conveyor.imageRef" .Values.mlflow.image }}
{{- else }}
{{- include "conveyor.image" . }}
{{- end }}
{{- end }}

{{/*
Every Conveyor container: not root, no privilege escalation, no capabilities, the runtime's
default seccomp profile, and a read-only root filesystem (writes go to an emptyDir on /tmp).
*/}}
{{- define "conveyor.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod security context of the Conveyor jobs (the image's airflow user). */}}
{{- define "conveyor.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 50000
runAsGroup: 0
fsGroup: 0
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "conveyor.mlflowAuthConfigMap" -}}
{{- printf "%s-mlflow-auth" (include "conveyor.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where the Conveyor containers find files/mlflow_auth.py (mounted from its ConfigMap). */}}
{{- define "conveyor.mlflowAuthScript" -}}
/opt/conveyor-mlflow/mlflow_auth.py
{{- end }}

{{- define "conveyor.mlflowTrackingUri" -}}
{{- if .Values.conveyor.mlflowTrackingUri }}
{{- .Values.conveyor.mlflowTrackingUri }}
{{- else if .Values.mlflow.enabled }}
{{- printf "http://%s:%v" (include "conveyor.mlflowName" .) .Values.mlflow.service.port }}
{{- else }}
{{- fail "conveyor.mlflowTrackingUri is required when mlflow.enabled is false" }}
{{- end }}
{{- end }}

{{- define "conveyor.sparkNamespace" -}}
{{- default .Release.Namespace .Values.conveyor.sparkNamespace }}
{{- end }}

{{/*
Host headers the MLflow server accepts: its service name in every form cluster DNS resolves,
with and without a port, plus mlflow.allowedHosts.
*/}}
{{- define "conveyor.mlflowAllowedHosts" -}}
{{- $svc := include "conveyor.mlflowName" . }}
{{- $ns := .Release.Namespace }}
{{- $hosts := list }}
{{- range $host := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) }}
{{- $hosts = append $hosts $host }}
{{- $hosts = append $hosts (printf "%s:*" $host) }}
{{- end }}
{{- concat $hosts .Values.mlflow.allowedHosts | join "," }}
{{- end }}
