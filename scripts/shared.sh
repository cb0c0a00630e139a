# Sourced by the scripts that need the reference peers: sets $shared to the
# directory holding peers/ (install.sh, netns-run.sh, the reference server
# scripts). One variable locates it for the scripts and the tests alike:
# WASMHOLE_SHARED, by default ../shared beside the checkout.
shared=${WASMHOLE_SHARED:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/shared}
if [ ! -f "$shared/peers/install.sh" ] || [ ! -f "$shared/peers/netns-run.sh" ]; then
  {
    echo "the reference peers are missing: $shared/peers/install.sh and netns-run.sh not found."
    if [ -n "${WASMHOLE_SHARED:-}" ]; then
      echo "WASMHOLE_SHARED=$WASMHOLE_SHARED must be the directory that holds peers/."
    else
      echo "Put the peers directory at ../shared/peers beside this checkout, or set WASMHOLE_SHARED to the directory that holds peers/."
    fi
  } >&2
  exit 1
fi
