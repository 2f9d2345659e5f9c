# CX as Code for the authflow blueprint: the Web Services Data Actions
# integration, its credential, authflow's data actions, the queues and the
# Architect flows. See deploy/genesys/README.md.
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    genesyscloud = {
      source  = "mypurecloud/genesyscloud"
      version = "1.84.1"
    }
  }
}

# Credentials and region come from the environment, never from this file:
# GENESYSCLOUD_OAUTHCLIENT_ID, GENESYSCLOUD_OAUTHCLIENT_SECRET and
# GENESYSCLOUD_REGION (e.g. us-east-1, eu-west-1).
provider "genesyscloud" {}
