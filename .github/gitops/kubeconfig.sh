#!/usr/bin/env bash
# Builds the deploy kubeconfig at run time from the GitHub Environment's two secrets (the token and the CA)
# and its variables (the API server and the namespace); a whole kubeconfig is never stored as a secret.
# Without them GitOps is off: it says so in the run summary and sets enabled=false. Writes KUBECONFIG to
# $GITHUB_ENV for the steps after it. Reads: NAUTILUS_TOKEN, NAUTILUS_CA, NAUTILUS_SERVER, NAUTILUS_NAMESPACE.
set -euo pipefail
summary=${GITHUB_STEP_SUMMARY:-/dev/null}
if [[ -z ${NAUTILUS_TOKEN:-} || -z ${NAUTILUS_CA:-} || -z ${NAUTILUS_SERVER:-} || -z ${NAUTILUS_NAMESPACE:-} ]]; then
  echo "GitOps is off: the GitHub Environment \`nautilus\` has no NAUTILUS_TOKEN and NAUTILUS_CA secrets or no NAUTILUS_SERVER and NAUTILUS_NAMESPACE variables, so nothing was done (docs/gitops.md sets them up)." >> "$summary"
  echo "enabled=false" >> "${GITHUB_OUTPUT:-/dev/null}"
  exit 0
fi
# Checked before they go into YAML: a service-account token is a JWT, the server an https URL, the namespace a DNS label.
[[ $NAUTILUS_TOKEN =~ ^[A-Za-z0-9._-]{20,8192}$ ]] || { echo "::error::NAUTILUS_TOKEN is not a service-account token"; exit 2; }
[[ $NAUTILUS_SERVER =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._/-]*)?$ ]] || { echo "::error::NAUTILUS_SERVER is not an https URL"; exit 2; }
[[ $NAUTILUS_NAMESPACE =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] || { echo "::error::NAUTILUS_NAMESPACE is not a namespace name"; exit 2; }
grep -q "BEGIN CERTIFICATE" <<< "$NAUTILUS_CA" || { echo "::error::NAUTILUS_CA is not a PEM certificate"; exit 2; }
config="${RUNNER_TEMP:?}/nautilus-kubeconfig"
umask 077
ca=$(printf '%s\n' "$NAUTILUS_CA" | base64 -w0)
cat > "$config" <<YAML
apiVersion: v1
kind: Config
clusters: [{name: nautilus, cluster: {server: "$NAUTILUS_SERVER", certificate-authority-data: "$ca"}}]
users: [{name: nautilus-deploy, user: {token: "$NAUTILUS_TOKEN"}}]
contexts: [{name: nautilus, context: {cluster: nautilus, user: nautilus-deploy, namespace: "$NAUTILUS_NAMESPACE"}}]
current-context: nautilus
YAML
echo "KUBECONFIG=$config" >> "${GITHUB_ENV:-/dev/null}"
echo "enabled=true" >> "${GITHUB_OUTPUT:-/dev/null}"
