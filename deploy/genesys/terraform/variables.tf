variable "authflow_base_url" {
  description = "Where Genesys Cloud reaches authflow: an https:// origin with a publicly trusted certificate, no trailing path (e.g. https://authflow.yourcompany.com)."
  type        = string
  validation {
    condition     = can(regex("^https://[^/]+$", var.authflow_base_url))
    error_message = "authflow_base_url must be https://host[:port] with no path."
  }
}

variable "authflow_api_key" {
  description = "The API key Genesys sends to authflow (one of authflow's apiKeys / AUTHFLOW_API_KEYS). Set it with TF_VAR_authflow_api_key, not in a file."
  type        = string
  sensitive   = true
  validation {
    condition     = length(var.authflow_api_key) >= 8
    error_message = "authflow_api_key must be at least 8 characters."
  }
}

variable "credential_user_name" {
  description = "The user name of the Basic Auth credential; authflow reads only the password (the API key)."
  type        = string
  default     = "genesys"
}

variable "integration_name" {
  description = "Name of the Web Services Data Actions integration."
  type        = string
  default     = "authflow"
}

variable "data_action_category" {
  description = "Category of authflow's data actions: how Architect lists them (Call Data Action -> Category)."
  type        = string
  default     = "authflow"
}

variable "division_name" {
  description = "Division of the queues and flows (e.g. Home)."
  type        = string
  default     = "Home"
}

variable "service_line" {
  description = "The authflow service line the flow starts sessions on (serviceLines.<name> in authflow's configuration)."
  type        = string
  default     = "banking"
}

variable "identifier_min_digits" {
  description = "Fewest digits Collect Input accepts for the identifier: match the service line's identifierType (README table)."
  type        = number
  default     = 4
}

variable "identifier_max_digits" {
  description = "Most digits Collect Input accepts for the identifier."
  type        = number
  default     = 12
}

variable "security_min_digits" {
  description = "Fewest digits Collect Input accepts for the security answer."
  type        = number
  default     = 1
}

variable "security_max_digits" {
  description = "Most digits Collect Input accepts for the security answer."
  type        = number
  default     = 12
}

variable "otp_min_digits" {
  description = "Fewest digits Collect Input accepts for a one-time code (authflow's otp.length is 4 to 10)."
  type        = number
  default     = 4
}

variable "otp_max_digits" {
  description = "Most digits Collect Input accepts for a one-time code (authflow's otp.length is 4 to 10)."
  type        = number
  default     = 10
}

variable "opt_out_key" {
  description = "The key a caller presses instead of the identifier to go on without it (Collect Input accepts a lone *)."
  type        = string
  default     = "*"
  validation {
    condition     = var.opt_out_key == "*"
    error_message = "Only * can be pressed alone in Collect Input without ending or failing the input (see the README)."
  }
}

variable "max_no_input" {
  description = "Silences (or too few digits) per call before the flow stops asking: opts out at the identifier, goes to an agent at the security question."
  type        = number
  default     = 2
}

variable "max_steps" {
  description = "Bound of the ID&V loop: at least maxIdentifyAttempts + maxVerifyAttempts + max_no_input + 4 of the service line, plus otp.maxSends on lines that send one-time codes."
  type        = number
  default     = 16
}

variable "flow_name" {
  description = "Name of the authflow inbound call flow."
  type        = string
  default     = "authflow ID&V"
}

variable "flow_language" {
  description = "The flow's language (en-us, es-es or ko-kr): Call.Language, passed to authflow so the caller hears its prompts in it."
  type        = string
  default     = "en-us"
  validation {
    condition     = contains(["en-us", "es-es", "ko-kr"], var.flow_language)
    error_message = "flow_language must be en-us, es-es or ko-kr."
  }
}

variable "link_attribute" {
  description = "Participant data attribute that carries an earlier conversation ID (callback data, transfers) to Start Authentication's linkedConversationId."
  type        = string
  default     = "authflowConversationId"
}

variable "create_queues" {
  description = "Create the two queues; false to use queues that already exist under these names."
  type        = bool
  default     = true
}

variable "agent_queue_name" {
  description = "Queue for everyone who is not verified, and for every error."
  type        = string
  default     = "authflow Agents"
}

variable "verified_queue_name" {
  description = "Queue the default next flow sends verified callers to."
  type        = string
  default     = "authflow Verified Customers"
}

variable "create_next_flow" {
  description = "Publish authflow-verified.yaml as the next flow; false when next_flow_name names a flow of your own."
  type        = bool
  default     = true
}

variable "next_flow_name" {
  description = "The inbound call flow verified callers are transferred to."
  type        = string
  default     = "authflow Verified Callers"
}
