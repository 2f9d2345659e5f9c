# The Architect flows, published from the Archy YAML in ../architect with
# the same substitutions as ../architect/options.yaml.
locals {
  flow_substitutions = {
    flowName             = var.flow_name
    division             = var.division_name
    language             = var.flow_language
    dataActionCategory   = var.data_action_category
    startActionName      = genesyscloud_integration_action.authflow["start"].name
    identifierActionName = genesyscloud_integration_action.authflow["identifier"].name
    securityActionName   = genesyscloud_integration_action.authflow["security"].name
    optOutActionName     = genesyscloud_integration_action.authflow["opt_out"].name
    statusActionName     = genesyscloud_integration_action.authflow["status"].name
    otpActionName        = genesyscloud_integration_action.authflow["otp"].name
    otpResendActionName  = genesyscloud_integration_action.authflow["otp_resend"].name
    serviceLine          = var.service_line
    identifierMinDigits  = var.identifier_min_digits
    identifierMaxDigits  = var.identifier_max_digits
    securityMinDigits    = var.security_min_digits
    securityMaxDigits    = var.security_max_digits
    otpMinDigits         = var.otp_min_digits
    otpMaxDigits         = var.otp_max_digits
    optOutKey            = var.opt_out_key
    maxNoInput           = var.max_no_input
    maxSteps             = var.max_steps
    linkAttribute        = var.link_attribute
    agentQueue           = var.agent_queue_name
    verifiedQueue        = var.verified_queue_name
    nextFlow             = var.next_flow_name
  }
}

resource "genesyscloud_flow" "verified" {
  count         = var.create_next_flow ? 1 : 0
  filepath      = "${path.module}/../architect/authflow-verified.yaml"
  substitutions = local.flow_substitutions
  depends_on    = [genesyscloud_routing_queue.agents, genesyscloud_routing_queue.verified]
}

resource "genesyscloud_flow" "inbound" {
  filepath      = "${path.module}/../architect/authflow-inbound.yaml"
  substitutions = local.flow_substitutions
  # A published flow holds the IDs of its data actions: republish it when the
  # file changes or an action is replaced (a changed contract gets a new ID).
  update_trigger_hash = sha256(jsonencode({
    file    = filesha256("${path.module}/../architect/authflow-inbound.yaml")
    actions = { for key, action in genesyscloud_integration_action.authflow : key => action.id }
  }))
  depends_on = [
    genesyscloud_flow.verified,
    genesyscloud_integration_action.authflow,
    genesyscloud_routing_queue.agents,
  ]
}
