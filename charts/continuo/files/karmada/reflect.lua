-- What Karmada collects of a member's ResilientService status: the figures and verdicts a site's state is read
-- from (not the incident history, drills or per-zone details, which stay in the member).
function ReflectStatus(observedObj)
  local s = observedObj.status
  if s == nil then
    return {}
  end
  local backup = nil
  if s.backup ~= nil then
    backup = { newestCopy = s.backup.newestCopy, points = s.backup.points }
  end
  return {
    observedGeneration = s.observedGeneration,
    replicas = s.replicas,
    readyReplicas = s.readyReplicas,
    zoneSummary = s.zoneSummary,
    conditions = s.conditions,
    objectives = s.objectives,
    backup = backup,
  }
end
