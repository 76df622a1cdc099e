{{/*
The chart name: app.kubernetes.io/name of the controller, and the base of
the agent's name.
*/}}
{{- define "prescaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name. Object names are cut to 63 characters
(label values and DNS names); the longest suffix used is "-leader-election",
so keep release names short.
*/}}
{{- define "prescaler.fullname" -}}
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

{{- define "prescaler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "prescaler.commonLabels" -}}
helm.sh/chart: {{ include "prescaler.chart" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: prescaler
{{- end }}

{{/* The controller's labels. */}}
{{- define "prescaler.labels" -}}
app.kubernetes.io/name: {{ include "prescaler.name" . }}
{{ include "prescaler.commonLabels" . }}
{{- end }}

{{/*
The controller's selector: immutable in a Deployment, so never add to it.
The agent's pods differ in name, so that the Deployment, Service,
PodDisruptionBudget and NetworkPolicy never select them.
*/}}
{{- define "prescaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prescaler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "prescaler.agent.name" -}}
{{- printf "%s-agent" (include "prescaler.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "prescaler.agent.fullname" -}}
{{- printf "%s-agent" (include "prescaler.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "prescaler.agent.labels" -}}
app.kubernetes.io/name: {{ include "prescaler.agent.name" . }}
{{ include "prescaler.commonLabels" . }}
{{- end }}

{{- define "prescaler.agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "prescaler.agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "prescaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "prescaler.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "prescaler.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (include "prescaler.agent.fullname" .) .Values.agent.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "prescaler.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The configuration file: .Values.config with leaderElection.enabled from
.Values.leaderElection, so that the Role, the replica check and the file
agree.
*/}}
{{- define "prescaler.config" -}}
{{- $cfg := deepCopy (.Values.config | default dict) }}
{{- $le := deepCopy (get $cfg "leaderElection" | default dict) }}
{{- $_ := set $le "enabled" .Values.leaderElection.enabled }}
{{- $_ := set $cfg "leaderElection" $le }}
{{- toYaml $cfg }}
{{- end }}

{{/* The Lease's namespace: config.leaderElection.namespace, "" = the release's. */}}
{{- define "prescaler.leaseNamespace" -}}
{{- $le := .Values.config.leaderElection | default dict }}
{{- default .Release.Namespace $le.namespace }}
{{- end }}

{{- define "prescaler.leaseName" -}}
{{- $le := .Values.config.leaderElection | default dict }}
{{- default "prescaler" $le.leaseName }}
{{- end }}

{{/* Fails the rendering on values that would install something broken. */}}
{{- define "prescaler.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 needs leaderElection.enabled: every replica would write floors" }}
{{- end }}
{{- if and .Values.rbac.namespaced (not .Values.watchNamespace) }}
{{- fail "rbac.namespaced needs watchNamespace: the namespace whose targets prescaler may reach" }}
{{- end }}
{{- end }}
