{{/* Name of the chart, or nameOverride. */}}
{{- define "kube-join-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* fullnameOverride, else the release name with the name appended unless already in it. */}}
{{- define "kube-join-agent.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "kube-join-agent.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Standalone: no app image, so the pod runs the agent alone (teleport-kube-agent's shape). */}}
{{- define "kube-join-agent.standalone" -}}
{{- if not .Values.app.image.repository -}}true{{- end -}}
{{- end -}}

{{- define "kube-join-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kube-join-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kube-join-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "kube-join-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
The ServiceAccount is named after the release, as teleport-kube-agent names it: `helm install
teleport-app-service ... -n teleport-agent` runs as teleport-agent:teleport-app-service, the name a
provision token's allow rule gives.
*/}}
{{- define "kube-join-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default .Release.Name .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kube-join-agent.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Where the auth CA bundle is mounted when caFile is set. */}}
{{- define "kube-join-agent.caDir" -}}/etc/kube-join/ca{{- end -}}

{{/* Where the CA bundle the auth service publishes (caBundle.configMap, key ca.crt) is mounted. */}}
{{- define "kube-join-agent.caBundleDir" -}}/var/run/kube-join/ca{{- end -}}

{{/* How the agent trusts the auth service: caPin, else caFile, else the published bundle. */}}
{{- define "kube-join-agent.trust" -}}
{{- if .Values.caPin -}}pin{{- else if .Values.caFile -}}file{{- else if .Values.caBundle.configMap -}}bundle{{- end -}}
{{- end -}}

{{/*
The agent's arguments, one flag per value: `kube-join agent --auth-addr ... --token-name ...`.
Unset values pass no flag, so the agent's own defaults apply.
*/}}
{{- define "kube-join-agent.args" -}}
{{- $v := .Values -}}
{{- $args := list "agent" "--auth-addr" $v.proxyAddr "--token-name" $v.joinParams.tokenName "--cluster-name" $v.clusterName -}}
{{- $trust := include "kube-join-agent.trust" . -}}
{{- if eq $trust "pin" -}}
{{- $args = concat $args (list "--ca-pin" $v.caPin) -}}
{{- else if eq $trust "file" -}}
{{- $args = concat $args (list "--ca-file" (printf "%s/%s" (include "kube-join-agent.caDir" .) $v.caFile.key)) -}}
{{- else if eq $trust "bundle" -}}
{{- $args = concat $args (list "--ca-file" (printf "%s/ca.crt" (include "kube-join-agent.caBundleDir" .))) -}}
{{- end -}}
{{- $args = concat $args (list "--out-dir" $v.outDir) -}}
{{- if eq $v.mode "sidecar" -}}
{{- $args = concat $args (list "--health-addr" (printf "0.0.0.0:%d" (int $v.healthPort))) -}}
{{- end -}}
{{- $group := $v.group -}}
{{- if and (kindIs "invalid" $group) $v.podSecurityContext -}}
{{- $group = $v.podSecurityContext.fsGroup -}}
{{- end -}}
{{- if not (kindIs "invalid" $group) -}}
{{- $args = concat $args (list "--group" (printf "%d" (int64 $group))) -}}
{{- end -}}
{{- $roles := $v.roles -}}
{{- if kindIs "slice" $roles -}}
{{- $roles = join "," $roles -}}
{{- end -}}
{{- if $roles -}}
{{- $args = concat $args (list "--roles" $roles) -}}
{{- end -}}
{{- range $v.apps -}}
{{- $args = concat $args (list "--app" (printf "%s=%s" .name .uri)) -}}
{{- end -}}
{{- with $v.renewal -}}
{{- if hasKey . "fraction" -}}
{{- $args = concat $args (list "--renew-fraction" (toString .fraction)) -}}
{{- end -}}
{{- if hasKey . "jitter" -}}
{{- $args = concat $args (list "--renew-jitter" (toString .jitter)) -}}
{{- end -}}
{{- if hasKey . "renewBefore" -}}
{{- $args = concat $args (list "--renew-before" .renewBefore) -}}
{{- end -}}
{{- end -}}
{{- if $v.ttl -}}
{{- $args = concat $args (list "--ttl" $v.ttl) -}}
{{- end -}}
{{- if $v.logLevel -}}
{{- $args = concat $args (list "--log-level" $v.logLevel) -}}
{{- end -}}
{{- if $v.notify.signal -}}
{{- $args = concat $args (list "--notify-signal" $v.notify.signal "--notify-process" $v.notify.process) -}}
{{- end -}}
{{- if eq $v.mode "init" -}}
{{- $args = append $args "--once" -}}
{{- if $v.onceTimeout -}}
{{- $args = concat $args (list "--once-timeout" $v.onceTimeout) -}}
{{- end -}}
{{- end -}}
{{- $args = concat $args $v.extraArgs -}}
{{- toYaml $args -}}
{{- end -}}

{{/* The kube-join container: a native sidecar, a plain init container, or (standalone) the pod's only container. */}}
{{- define "kube-join-agent.agentContainer" -}}
- name: kube-join
  image: {{ include "kube-join-agent.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- if and (eq .Values.mode "sidecar") (not (include "kube-join-agent.standalone" .)) }}
  # A native sidecar: started before the app, kept running beside it, stopped after it.
  restartPolicy: Always
  {{- end }}
  args:
    {{- include "kube-join-agent.args" . | nindent 4 }}
  env:
    - name: NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- if eq .Values.mode "sidecar" }}
  ports:
    - name: health
      containerPort: {{ .Values.healthPort }}
      protocol: TCP
  # /readyz answers 200 once a valid set is on disk{{ if not (include "kube-join-agent.standalone" .) }}: the app starts only after that{{ end }}.
  startupProbe:
    httpGet:
      path: /readyz
      port: health
    periodSeconds: 1
    failureThreshold: 300
  livenessProbe:
    httpGet:
      path: /livez
      port: health
    periodSeconds: 10
    failureThreshold: 3
  readinessProbe:
    httpGet:
      path: /readyz
      port: health
    periodSeconds: 10
    failureThreshold: 3
  {{- end }}
  volumeMounts:
    - name: kube-join-token
      mountPath: /var/run/secrets/tokens
      readOnly: true
    - name: kube-join-certs
      mountPath: {{ .Values.outDir }}
    - name: tmp
      mountPath: /tmp
    {{- if eq (include "kube-join-agent.trust" .) "file" }}
    - name: kube-join-ca
      mountPath: {{ include "kube-join-agent.caDir" . }}
      readOnly: true
    {{- else if eq (include "kube-join-agent.trust" .) "bundle" }}
    - name: kube-join-ca-bundle
      mountPath: {{ include "kube-join-agent.caBundleDir" . }}
      readOnly: true
    {{- end }}
    {{- with .Values.extraVolumeMounts }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- $sc := deepCopy (default dict .Values.securityContext) -}}
  {{- if .Values.notify.addCapKill -}}
  {{- /* Only on request: signalling an app of another uid (the same uid needs no capability). */ -}}
  {{- $caps := deepCopy (default dict $sc.capabilities) -}}
  {{- $_ := set $caps "add" (append (default list $caps.add) "KILL") -}}
  {{- $_ := set $sc "capabilities" $caps -}}
  {{- end }}
  {{- with $sc }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* The pod spec shared by the Deployment and the Job. */}}
{{- define "kube-join-agent.podSpec" -}}
serviceAccountName: {{ include "kube-join-agent.serviceAccountName" . }}
# The projected, audience-bound token below is the only one the pod needs.
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.podSecurityContext }}
securityContext:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if eq .Values.kind "Job" }}
restartPolicy: {{ .Values.job.restartPolicy }}
{{- end }}
{{- if .Values.notify.process }}
# The agent finds the app's process by name and signals it: one PID namespace for the pod.
shareProcessNamespace: true
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- if include "kube-join-agent.standalone" . }}
containers:
  {{- include "kube-join-agent.agentContainer" . | nindent 2 }}
{{- else }}
{{- if ne .Values.mode "podCertificate" }}
initContainers:
  {{- include "kube-join-agent.agentContainer" . | nindent 2 }}
{{- end }}
containers:
  - name: {{ .Values.app.name }}
    image: {{ printf "%s:%s" .Values.app.image.repository (default "latest" .Values.app.image.tag) | quote }}
    imagePullPolicy: {{ default "IfNotPresent" .Values.app.image.pullPolicy }}
    {{- with .Values.app.command }}
    command:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.app.args }}
    args:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.app.ports }}
    ports:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.app.env }}
    env:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: kube-join-certs
        mountPath: {{ .Values.outDir }}
        readOnly: true
    {{- with .Values.app.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- with .Values.app.securityContext }}
    securityContext:
      {{- toYaml . | nindent 6 }}
    {{- end }}
{{- end }}
volumes:
{{- if eq .Values.mode "podCertificate" }}
  {{- include "kube-join-agent.podCertificateVolume" . | nindent 2 }}
{{- else }}
  - name: kube-join-token
    projected:
      sources:
        - serviceAccountToken:
            audience: {{ .Values.clusterName | quote }}
            expirationSeconds: {{ .Values.tokenExpirationSeconds }}
            path: kube-join
  - name: kube-join-certs
    emptyDir:
      medium: Memory
      sizeLimit: 1Mi
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
  {{- with .Values.caFile }}
  - name: kube-join-ca
    {{- if .configMap }}
    configMap:
      name: {{ .configMap }}
      items:
        - key: {{ .key }}
          path: {{ .key }}
    {{- else }}
    secret:
      secretName: {{ .secret }}
      items:
        - key: {{ .key }}
          path: {{ .key }}
    {{- end }}
  {{- end }}
  {{- if eq (include "kube-join-agent.trust" .) "bundle" }}
  # The CA bundle the auth service publishes into this namespace: no pin to paste.
  - name: kube-join-ca-bundle
    configMap:
      name: {{ .Values.caBundle.configMap }}
      items:
        - key: ca.crt
          path: ca.crt
  {{- end }}
{{- end }}
  {{- with .Values.extraVolumes }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}


{{/*
mode: podCertificate: no process in the pod. The kubelet makes the key and asks the auth (the
podCertificate signer) for the certificate, and projects the CA from the signer's ClusterTrustBundle;
the app sees tls.key, tls.crt and ca.crt in outDir as with the agent.
*/}}
{{- define "kube-join-agent.podCertificateVolume" -}}
{{- $v := .Values -}}
{{- $annotations := dict "kube-join.io/token-name" $v.joinParams.tokenName -}}
{{- $roles := $v.roles -}}
{{- if kindIs "slice" $roles }}{{ $roles = join "," $roles }}{{ end -}}
{{- if $roles }}{{ $_ := set $annotations "kube-join.io/roles" $roles }}{{ end -}}
{{- $apps := list -}}
{{- range $v.apps }}{{ $apps = append $apps (printf "%s=%s" .name .uri) }}{{ end -}}
{{- if $apps }}{{ $_ := set $annotations "kube-join.io/apps" (join "," $apps) }}{{ end -}}
- name: kube-join-certs
  projected:
    sources:
      - podCertificate:
          signerName: {{ $v.podCertificate.signerName | quote }}
          keyType: {{ $v.podCertificate.keyType }}
          keyPath: tls.key
          certificateChainPath: tls.crt
          userAnnotations:
            {{- toYaml $annotations | nindent 12 }}
      - clusterTrustBundle:
          signerName: {{ $v.podCertificate.signerName | quote }}
          labelSelector: {}
          path: ca.crt
{{- end -}}
