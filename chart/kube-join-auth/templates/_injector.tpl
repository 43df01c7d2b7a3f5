{{/* kube-join injector (injector.enabled): names and arguments. */}}
{{- define "kube-join-auth.injector.fullname" -}}
{{- printf "%s-injector" (include "kube-join-auth.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kube-join-auth.injector.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-join-auth.name" . }}-injector
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kube-join-auth.injector.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kube-join-auth.injector.selectorLabels" . }}
app.kubernetes.io/component: injector
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The MutatingWebhookConfiguration is cluster-wide: the namespace keeps two releases apart. */}}
{{- define "kube-join-auth.injector.webhookConfigName" -}}
{{- printf "%s-%s" .Release.Namespace (include "kube-join-auth.injector.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The Secret with the CA every replica signs its serving certificate with (created by the first). */}}
{{- define "kube-join-auth.injector.caSecret" -}}
{{- printf "%s-ca" (include "kube-join-auth.injector.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The names the apiserver may call the injector's Service by. */}}
{{- define "kube-join-auth.injector.sans" -}}
{{- $name := include "kube-join-auth.injector.fullname" . -}}
{{- $ns := .Release.Namespace -}}
{{- join "," (list (printf "%s.%s.svc" $name $ns) (printf "%s.%s.svc.%s" $name $ns .Values.clusterDomain) (printf "%s.%s" $name $ns) $name) -}}
{{- end -}}

{{/* `kube-join injector ...`: the injected agents' defaults come from this release (its Service, cluster name, image). */}}
{{- define "kube-join-auth.injector.args" -}}
{{- $v := .Values.injector -}}
{{- $authAddr := default (printf "%s.%s.svc:%d" (include "kube-join-auth.fullname" .) .Release.Namespace (int .Values.service.port)) $v.authAddr -}}
{{- $image := default (include "kube-join-auth.image" .) $v.agentImage -}}
{{- $args := list "injector" "--listen" (printf "0.0.0.0:%d" (int $v.port)) "--san" (include "kube-join-auth.injector.sans" .) "--tls-secret" (include "kube-join-auth.injector.caSecret" .) "--tls-secret-namespace" .Release.Namespace "--webhook-config-name" (include "kube-join-auth.injector.webhookConfigName" .) "--auth-addr" $authAddr "--cluster-name" .Values.clusterName "--image" $image "--image-pull-policy" .Values.image.pullPolicy "--ca-bundle-configmap" $v.caBundleConfigMap -}}
{{- if $v.tokenName -}}
{{- $args = concat $args (list "--token-name" $v.tokenName) -}}
{{- end -}}
{{- if $v.logLevel -}}
{{- $args = concat $args (list "--log-level" $v.logLevel) -}}
{{- end -}}
{{- $args = concat $args $v.extraArgs -}}
{{- toYaml $args -}}
{{- end -}}
