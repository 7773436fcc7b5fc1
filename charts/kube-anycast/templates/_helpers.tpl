{{/* Names and labels shared by every template. */}}

{{- define "kube-anycast.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "kube-anycast.fullname" -}}
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

{{- define "kube-anycast.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-anycast.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "kube-anycast.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kube-anycast.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "kube-anycast.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "kube-anycast.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "kube-anycast.image" -}}
{{- printf "%s:%s" .image.repository (default .chart.AppVersion .image.tag) }}
{{- end }}

{{/* Where the agent listens and the relay connects: an emptyDir shared by both containers. */}}
{{- define "kube-anycast.socketDir" -}}/run/kube-anycast{{- end }}
{{- define "kube-anycast.socket" -}}{{ include "kube-anycast.socketDir" . }}/exabgp.sock{{- end }}

{{/* The grace period must cover the drain delay, the withdraw and ExaBGP's own stop. */}}
{{- define "kube-anycast.terminationGrace" -}}
{{- $drain := int .Values.agent.drainDelaySeconds }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $drain 30 }}
{{- else if le (int .Values.terminationGracePeriodSeconds) (add $drain 5) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed agent.drainDelaySeconds (%d) by more than 5 s, or the kubelet kills the agent before it withdraws" .Values.terminationGracePeriodSeconds $drain) }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}
