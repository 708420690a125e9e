{{/* The release's full name: the release name, with "-cairn" unless it has it. */}}
{{- define "cairn.fullname" -}}
{{- if contains "cairn" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-cairn" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The namespace of the controller and its resources. */}}
{{- define "cairn.namespace" -}}
{{- default .Release.Namespace .Values.namespace -}}
{{- end -}}

{{- define "cairn.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cairn.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cairn.labels" -}}
app.kubernetes.io/name: cairn
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "cairn.selectorLabels" -}}
app.kubernetes.io/name: cairn
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{/* The passphrase Secret's name: required, the chart has no default passphrase. */}}
{{- define "cairn.passphraseSecret" -}}
{{- required "location.passphraseSecret.name is required: create a Secret holding the repository's passphrase (kubectl create secret generic cairn-repo --from-file=passphrase=FILE) and name it here; cairn has no default passphrase" .Values.location.passphraseSecret.name -}}
{{- end -}}

{{/* The platform namespaces of the daily backup: the configured ones and the controller's. */}}
{{- define "cairn.platformNamespaces" -}}
{{- $ns := include "cairn.namespace" . -}}
{{- $list := .Values.defaultSchedule.platformNamespaces | default list -}}
{{- if not (has $ns $list) }}{{ $list = append $list $ns }}{{ end -}}
{{- toJson $list -}}
{{- end -}}

{{/* The Secrets the controller and the agents may read (JSON list): the
passphrase, credentials and CA of the chart's BackupLocation and
rbac.extraSecretNames. */}}
{{- define "cairn.secretNames" -}}
{{- $secrets := list }}
{{- if .Values.location.create }}
{{- $secrets = append $secrets (include "cairn.passphraseSecret" .) }}
{{- with .Values.location.credentialsSecret }}{{ $secrets = append $secrets . }}{{ end }}
{{- with .Values.location.s3.caSecret }}{{ with .name }}{{ $secrets = append $secrets . }}{{ end }}{{ end }}
{{- end }}
{{- $secrets = concat $secrets (.Values.rbac.extraSecretNames | default list) | uniq }}
{{- toJson $secrets -}}
{{- end -}}

{{- define "cairn.agentName" -}}
{{- printf "%s-agent" (include "cairn.fullname" .) -}}
{{- end -}}

{{- define "cairn.agentServiceAccountName" -}}
{{- if .Values.agent.serviceAccount.create -}}
{{- default (include "cairn.agentName" .) .Values.agent.serviceAccount.name -}}
{{- else -}}
{{- required "agent.serviceAccount.name is required when agent.serviceAccount.create is false" .Values.agent.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cairn.agentSelectorLabels" -}}
app.kubernetes.io/name: cairn
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}
