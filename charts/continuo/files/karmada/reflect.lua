-- What Karmada collects of a member's ResilientService status: the figures and verdicts a site's state is read
-- from, the recoveries of a site arrival (the copy restored, the data lost: what a site failover cost), and a
-- handover under way (the last copy a site made before a planned move, which continuo waits for); not the incident
-- history, drills, zone recoveries or per-zone details, which stay in the member.
function ReflectStatus(observedObj)
  local s = observedObj.status
  if s == nil then
    return {}
  end
  local backup = nil
  if s.backup ~= nil then
    backup = { newestCopy = s.backup.newestCopy, points = s.backup.points }
  end
  local arrivals = nil
  for _, r in ipairs(s.recoveries or {}) do
    if r.fromSite ~= nil then
      arrivals = arrivals or {}
      table.insert(arrivals, r)
    end
  end
  return {
    recoveries = arrivals,
    observedGeneration = s.observedGeneration,
    replicas = s.replicas,
    readyReplicas = s.readyReplicas,
    zoneSummary = s.zoneSummary,
    conditions = s.conditions,
    objectives = s.objectives,
    backup = backup,
    handover = s.handover,
  }
end
