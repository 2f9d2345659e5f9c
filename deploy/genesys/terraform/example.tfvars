# Copy to terraform.tfvars (git-ignored) and adjust. The API key is not
# here: export TF_VAR_authflow_api_key=... in the shell that runs terraform.
authflow_base_url     = "https://authflow.yourcompany.com"
division_name         = "Home"
service_line          = "banking"
identifier_min_digits = 4
identifier_max_digits = 12
flow_language         = "en-us"
agent_queue_name      = "authflow Agents"
verified_queue_name   = "authflow Verified Customers"
next_flow_name        = "authflow Verified Callers"
