/* One thread-local variable in a library that tls_probe dlopens: each
   thread's copy is a dynamic TLS block that ld.so mallocs on first use. */
__thread int tls_probe_value;
int *tls_probe_address(void) { return &tls_probe_value; }
