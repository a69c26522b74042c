-- Runs the Argo CD health check against ResilientService states and checks the outcome of each.
-- lua5.4 tests/argocd/health_test.lua charts/continuo/files/argocd-health.lua
local script = arg[1] or "charts/continuo/files/argocd-health.lua"
local check = assert(loadfile(script))

local function cond(type, status, message)
  return { type = type, status = status, reason = "R", message = message or (type .. " " .. status) }
end
local function service(generation, status)
  return { apiVersion = "continuo.dev/v1alpha1", kind = "ResilientService",
           metadata = { name = "passhub", namespace = "invoicing", generation = generation }, status = status }
end

local cases = {
  { "no status yet", service(1, nil), "Progressing", "Waiting for continuo" },
  { "old generation observed",
    service(3, { observedGeneration = 2, conditions = { cond("Ready", "True") } }), "Progressing", "generation 3" },
  { "rolling out",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "False", "waiting for Ready replicas: eu-south-1b 1/3"),
      cond("Reconciling", "True"), cond("Stalled", "False") } }), "Progressing", "eu-south-1b 1/3" },
  { "ready and objectives feasible",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "True", "9 replicas Ready"), cond("Stalled", "False"),
      cond("ObjectivesMet", "True") } }), "Healthy", "9 replicas Ready" },
  { "ready, RPO not verified",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "True", "9 replicas Ready"), cond("ObjectivesMet", "Unknown") } }),
    "Healthy", "9 replicas Ready" },
  { "ready but objectives not met",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "True"), cond("ObjectivesMet", "False", "Zone: RTO 0s not feasible") } }),
    "Degraded", "Zone: RTO 0s not feasible" },
  { "rolling out zone by zone, Ready throughout",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "True"), cond("Reconciling", "True",
      "rolling out zone by zone: eu-south-1b rolling, eu-south-1a done, eu-south-1c waiting on the previous template") } }),
    "Progressing", "eu-south-1b rolling" },
  { "rollout stopped at a zone past its deadline",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "False"), cond("Stalled", "True",
      "zone eu-south-1b did not finish rolling out its new template within its progress deadline") } }),
    "Degraded", "eu-south-1b did not finish" },
  { "failure detection suspended",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "True"), cond("FailureDetection", "False",
      "no node lease renewal seen for 25s") } }),
    "Degraded", "Failure detection suspended: no node lease renewal" },
  { "detection from leases, all well",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "True", "9 replicas Ready"), cond("Reconciling", "False"),
      cond("FailureDetection", "True") } }), "Healthy", "9 replicas Ready" },
  { "stalled on a missing class",
    service(1, { observedGeneration = 1, conditions = { cond("Ready", "False"), cond("Stalled", "True", "ContinuityClass \"x\" does not exist") } }),
    "Degraded", "does not exist" },
}

local run = dofile((arg[0]:match("(.*/)") or "./") .. "cases.lua")
run("argocd-health", check, cases)
