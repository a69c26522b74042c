-- Karmada's health of a ResilientService in a member cluster: healthy when continuo there has judged the current
-- generation and says Ready.
function InterpretHealth(observedObj)
  local status = observedObj.status
  if status == nil or status.conditions == nil then
    return false
  end
  local generation = observedObj.metadata and observedObj.metadata.generation
  if generation ~= nil and status.observedGeneration ~= generation then
    return false
  end
  for _, c in ipairs(status.conditions) do
    if c.type == "Ready" then
      return c.status == "True"
    end
  end
  return false
end
