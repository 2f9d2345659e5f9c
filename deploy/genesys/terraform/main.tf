data "genesyscloud_auth_division" "this" {
  name = var.division_name
}

# authflow's data actions are read from the *.custom.json files themselves
# (api-spec/genesys/, the one source of truth), so Terraform and the files
# that an administrator imports by hand can never drift apart.
locals {
  data_action_dir    = "${path.module}/../../../api-spec/genesys"
  placeholder_origin = "https://authflow.example.com"
  data_action_files = {
    start      = "start-authentication.custom.json"
    identifier = "submit-identifier.custom.json"
    security   = "submit-security-answer.custom.json"
    opt_out    = "opt-out.custom.json"
    status     = "get-authentication-status.custom.json"
    handoff    = "redeem-handoff-code.custom.json"
    # One-time codes (lines with verificationMethod otp, answer_then_otp or
    # otp_or_answer; the flow's ask_otp case calls them).
    otp        = "submit-one-time-code.custom.json"
    otp_resend = "request-new-one-time-code.custom.json"
  }
  data_actions = {
    for key, file_name in local.data_action_files :
    key => jsondecode(file("${local.data_action_dir}/${file_name}"))
  }
}

# The API key as the password of a Basic Auth credential: Genesys sends
# "Authorization: Basic ...", which authflow accepts (the key is the password).
resource "genesyscloud_integration_credential" "authflow" {
  name                 = "${var.integration_name} API key"
  credential_type_name = "basicAuth"
  fields = {
    userName = var.credential_user_name
    password = var.authflow_api_key
  }
}

resource "genesyscloud_integration" "authflow" {
  intended_state   = "ENABLED"
  integration_type = "custom-rest-actions"
  config {
    name  = var.integration_name
    notes = "authflow ID&V (deploy/genesys/terraform)"
    credentials = {
      basicAuth = genesyscloud_integration_credential.authflow.id
    }
  }
}

resource "genesyscloud_integration_action" "authflow" {
  for_each               = local.data_actions
  name                   = each.value.name
  category               = var.data_action_category
  integration_id         = genesyscloud_integration.authflow.id
  secure                 = each.value.secure
  config_timeout_seconds = each.value.config.timeoutSeconds
  contract_input         = jsonencode(each.value.contract.input.inputSchema)
  contract_output        = jsonencode(each.value.contract.output.successSchema)

  config_request {
    request_type         = each.value.config.request.requestType
    request_url_template = replace(each.value.config.request.requestUrlTemplate, local.placeholder_origin, var.authflow_base_url)
    request_template     = each.value.config.request.requestTemplate
    # The Basic Auth credential carries the key; the files' X-API-Key header
    # belongs to the User Defined credential of the by-hand import.
    headers = {
      for name, value in each.value.config.request.headers : name => value if name != "X-API-Key"
    }
  }

  config_response {
    translation_map          = each.value.config.response.translationMap
    translation_map_defaults = each.value.config.response.translationMapDefaults
    success_template         = each.value.config.response.successTemplate
  }
}

resource "genesyscloud_routing_queue" "agents" {
  count       = var.create_queues ? 1 : 0
  name        = var.agent_queue_name
  division_id = data.genesyscloud_auth_division.this.id
  description = "authflow: callers who are not verified, and every authflow error"
}

resource "genesyscloud_routing_queue" "verified" {
  count       = var.create_queues ? 1 : 0
  name        = var.verified_queue_name
  division_id = data.genesyscloud_auth_division.this.id
  description = "authflow: verified callers (from the default next flow)"
}
