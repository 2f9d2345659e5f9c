/*
 * purity_check: linked with every object of authflow_core and
 * authflow_connector and with jansson alone (see CMakeLists.txt). It does
 * nothing when run; that it links at all is the check that the pure
 * modules call no Redis, curl or libmicrohttpd function.
 */
int main(void) {
  return 0;
}
