#!/bin/sh
# continuo's restore into a stateful replica's new volume (CONTINUO_RESTORE_TARGET=volume), as the agent's
# restore init container runs it: restic restores the copy into each mounted claim, once.
#
# From continuo: CONTINUO_POINT_ID (the restic snapshot), CONTINUO_RESTORE_PATH (one directory per claim),
# CONTINUO_RESTORE_MARKER, CONTINUO_RESTORE_ORDINALS (comma-separated), CONTINUO_POD_INDEX (this pod's ordinal),
# and the location's variables (RESTIC_REPOSITORY built from them, as agent.sh does).
#
# The init container is part of the StatefulSet's pod template, so every pod of the zone runs it at every start:
# it must restore only in the ordinals named, only once, and exit 0 at once otherwise.
set -eu

: "${CONTINUO_RESTORE_PATH:?}" "${CONTINUO_RESTORE_MARKER:?}" "${CONTINUO_POD_INDEX:?}"
case ",${CONTINUO_RESTORE_ORDINALS:-}," in
*",${CONTINUO_POD_INDEX},"*) ;;
*)
  echo "pod ${CONTINUO_POD_INDEX} keeps its volume: not one of ${CONTINUO_RESTORE_ORDINALS:-none}"
  exit 0
  ;;
esac
for claim in "${CONTINUO_RESTORE_PATH}"/*/; do
  claim=${claim%/}
  if [ -e "${claim}/${CONTINUO_RESTORE_MARKER}" ]; then
    echo "${claim}: restored already ($(cat "${claim}/${CONTINUO_RESTORE_MARKER}"))"
    continue
  fi
  : "${CONTINUO_POINT_ID:?restore needs the copy's id}"
  # The copy holds one directory per claim, named after it; restic restores it in place.
  restic restore "${CONTINUO_POINT_ID}:/$(basename "$claim")" --target "$claim"
  printf '%s\n' "${CONTINUO_POINT_ID}" > "${claim}/${CONTINUO_RESTORE_MARKER}"
done
