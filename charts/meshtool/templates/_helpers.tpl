{{/*
The name of every object and the pods' app.kubernetes.io/name label: "meshtool-controller"
unless fullnameOverride says otherwise. It does not include the release name: signer names are
cluster-wide, so one release per signer domain runs in a cluster.
*/}}
{{- define "meshtool.fullname" -}}
{{- default "meshtool-controller" .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The label that selects the controller pods (also the kustomize base's). */}}
{{- define "meshtool.selectorLabels" -}}
app.kubernetes.io/name: {{ include "meshtool.fullname" . }}
{{- end -}}

{{/* Every object's labels: the selector label plus Helm's recommended ones. */}}
{{- define "meshtool.labels" -}}
{{ include "meshtool.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
The enabled signers as a list of dicts {name, key, poolSecret}: name is the flag and signer
name part ("service-dns"), key the values key ("serviceDns"). Fails when none is enabled.
Order: service-dns, spiffe, pod-identity, as in the controller's flags.
*/}}
{{- define "meshtool.signers" -}}
{{- $out := list -}}
{{- range $pair := list (list "serviceDns" "service-dns") (list "spiffe" "spiffe") (list "podIdentity" "pod-identity") -}}
{{- $signer := index $.Values.signers (first $pair) -}}
{{- if $signer.enabled -}}
{{- $out = append $out (dict "key" (first $pair) "name" (last $pair) "poolSecret" $signer.poolSecret) -}}
{{- end -}}
{{- end -}}
{{- if not $out -}}
{{- fail "meshtool: enable at least one signer (signers.serviceDns, signers.spiffe or signers.podIdentity)" -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The pods' image reference. */}}
{{- define "meshtool.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString .Values.image.tag) -}}
{{- end -}}

{{/*
The bundle endpoint values as JSON, after the checks a schema cannot make: it serves the
spiffe signer's bundle, so it needs that signer.
*/}}
{{- define "meshtool.bundleEndpoint" -}}
{{- $e := .Values.bundleEndpoint -}}
{{- if and $e.enabled (not .Values.signers.spiffe.enabled) -}}
{{- fail "meshtool: bundleEndpoint.enabled needs signers.spiffe.enabled (it serves the SPIFFE bundle)" -}}
{{- end -}}
{{- toJson $e -}}
{{- end -}}
