output "integration_id" {
  description = "The Web Services Data Actions integration."
  value       = genesyscloud_integration.authflow.id
}

output "data_action_ids" {
  description = "authflow's data actions by key (start, identifier, security, opt_out, status, handoff)."
  value       = { for key, action in genesyscloud_integration_action.authflow : key => action.id }
}

output "inbound_flow_id" {
  description = "The authflow ID&V inbound call flow: point a call route (Admin -> Routing -> Call Routing) at it."
  value       = genesyscloud_flow.inbound.id
}
