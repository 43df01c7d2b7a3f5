{{/* Name of the chart, or nameOverride. */}}
{{- define "kube-join-auth.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* fullnameOverride, else the release name with the name appended unless already in it. */}}
{{- define "kube-join-auth.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kube-join-auth.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kube-join-auth.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-join-auth.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kube-join-auth.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kube-join-auth.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kube-join-auth.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kube-join-auth.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kube-join-auth.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "kube-join-auth.stateDir" -}}/var/lib/kube-join{{- end -}}
{{- define "kube-join-auth.tokenDir" -}}/etc/kube-join/tokens{{- end -}}
{{- define "kube-join-auth.kekDir" -}}/etc/kube-join/kek{{- end -}}

{{/* Names in the serving certificate: the Service's DNS names, loopback, then extraSans. */}}
{{- define "kube-join-auth.sans" -}}
{{- $name := include "kube-join-auth.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- $sans := list $name (printf "%s.%s" $name $ns) (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.%s" $name $ns .Values.clusterDomain) "localhost" "127.0.0.1" -}}
{{- join "," (concat $sans .Values.extraSans) -}}
{{- end -}}

{{/* `kube-join auth ...`: one flag per value; unset values pass no flag (the service's defaults apply). */}}
{{- define "kube-join-auth.args" -}}
{{- $v := .Values -}}
{{- $args := list "auth" "--state-dir" (include "kube-join-auth.stateDir" .) "--cluster-name" $v.clusterName "--listen" (printf "0.0.0.0:%d" (int $v.port)) "--san" (include "kube-join-auth.sans" .) -}}
{{- $args = concat $args (list "--metrics-addr" (ternary (printf "0.0.0.0:%d" (int $v.metrics.port)) "off" $v.metrics.enabled)) -}}
{{- if eq $v.storage.type "kubernetes" -}}
{{- $args = concat $args (list "--storage" "kubernetes" "--storage-namespace" .Release.Namespace) -}}
{{- end -}}
{{- if $v.podCertificateSigner.signerName -}}
{{- $args = concat $args (list "--pod-certificate-signer" $v.podCertificateSigner.signerName) -}}
{{- end -}}
{{- if $v.caKeyEncryption.secret -}}
{{- $args = concat $args (list "--ca-key-encryption-key-file" (printf "%s/%s" (include "kube-join-auth.kekDir" .) $v.caKeyEncryption.key)) -}}
{{- end -}}
{{- if or $v.caBundle.namespaces $v.caBundle.namespaceSelector -}}
{{- $args = concat $args (list "--ca-bundle-configmap" $v.caBundle.configMap) -}}
{{- range $v.caBundle.namespaces -}}
{{- $args = concat $args (list "--ca-bundle-namespaces" .) -}}
{{- end -}}
{{- if $v.caBundle.namespaceSelector -}}
{{- $args = concat $args (list "--ca-bundle-namespace-selector" $v.caBundle.namespaceSelector) -}}
{{- end -}}
{{- end -}}
{{- if $v.certTtl -}}
{{- $args = concat $args (list "--cert-ttl" $v.certTtl) -}}
{{- end -}}
{{- if $v.maxCertTtl -}}
{{- $args = concat $args (list "--max-cert-ttl" $v.maxCertTtl) -}}
{{- end -}}
{{- if $v.logLevel -}}
{{- $args = concat $args (list "--log-level" $v.logLevel) -}}
{{- end -}}
{{- if $v.inventory.checkPods -}}
{{- $args = append $args "--inventory-check-pods" -}}
{{- end -}}
{{- $args = concat $args $v.extraArgs -}}
{{- toYaml $args -}}
{{- end -}}
