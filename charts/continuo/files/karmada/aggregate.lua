-- The ResilientService on Karmada's control plane, from its members': replicas summed, each cluster's zones in
-- the zone summary, Ready when a member is Ready (the message names where), ObjectivesMet the worst of the
-- members', the newest copy any member reports, the site arrivals' recoveries of every member (what each site
-- failover restored and lost, for the report). status.site is continuo's own (the site controller writes it) and
-- is kept as it is.
local function condition(conditions, type)
  for _, c in ipairs(conditions or {}) do
    if c.type == type then
      return c
    end
  end
  return nil
end

local worse = { True = 1, Unknown = 2, False = 3 }

function AggregateStatus(desiredObj, statusItems)
  local previous = desiredObj.status or {}
  local status = { site = previous.site, replicas = 0, readyReplicas = 0 }
  local zones, readyAt, notReady = {}, {}, {}
  local objectives = nil
  local newest, changed = nil, nil
  for _, item in ipairs(statusItems or {}) do
    local s = item.status or {}
    for _, r in ipairs(s.recoveries or {}) do
      status.recoveries = status.recoveries or {}
      table.insert(status.recoveries, r)
    end
    status.replicas = status.replicas + (s.replicas or 0)
    status.readyReplicas = status.readyReplicas + (s.readyReplicas or 0)
    if s.zoneSummary ~= nil then
      table.insert(zones, item.clusterName .. ": " .. s.zoneSummary)
    end
    local ready = condition(s.conditions, "Ready")
    if ready ~= nil and ready.lastTransitionTime ~= nil and (changed == nil or ready.lastTransitionTime > changed) then
      changed = ready.lastTransitionTime
    end
    if ready ~= nil and ready.status == "True" then
      table.insert(readyAt, item.clusterName)
    else
      table.insert(notReady, item.clusterName)
    end
    local met = condition(s.conditions, "ObjectivesMet")
    if met ~= nil and (objectives == nil or worse[met.status] > worse[objectives.status]) then
      objectives = { type = "ObjectivesMet", status = met.status, reason = met.reason,
                     message = item.clusterName .. ": " .. (met.message or ""), lastTransitionTime = met.lastTransitionTime }
    end
    if s.backup ~= nil and s.backup.newestCopy ~= nil and (newest == nil or s.backup.newestCopy > newest) then
      newest = s.backup.newestCopy
    end
  end
  if #zones > 0 then
    status.zoneSummary = table.concat(zones, "; ")
  end
  local ready
  if #readyAt > 0 then
    ready = { type = "Ready", status = "True", reason = "ReadyAtSite", message = "Ready at " .. table.concat(readyAt, ", ") }
  else
    ready = { type = "Ready", status = "False", reason = "NotReadyAtAnySite",
              message = "not Ready at any member cluster (" .. table.concat(notReady, ", ") .. ")" }
  end
  -- A condition's transition time: kept while its status holds, else the newest member's Ready transition.
  local previousReady = condition(previous.conditions, "Ready")
  if previousReady ~= nil and previousReady.status == ready.status and previousReady.lastTransitionTime ~= nil then
    ready.lastTransitionTime = previousReady.lastTransitionTime
  else
    ready.lastTransitionTime = changed or "1970-01-01T00:00:00Z"
  end
  status.conditions = { ready }
  if objectives ~= nil then
    table.insert(status.conditions, objectives)
  end
  if newest ~= nil then
    status.backup = { newestCopy = newest, points = 0 }
  end
  desiredObj.status = status
  return desiredObj
end
