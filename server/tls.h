/* tls.h - the certificate and key of the server's optional TLS, internal to
 * server/. libmicrohttpd (through GnuTLS) does the handshakes; this only
 * reads the two PEM files and checks them with OpenSSL first, because MHD
 * refuses a bad pair with nothing better than "failed to setup x509". */
#ifndef CAP_SERVER_TLS_H
#define CAP_SERVER_TLS_H

#include "base/error.h"

/* Both paths given or neither (0, nothing loaded). On success *cert_pem and
 * *key_pem hold the files' text (the caller frees them); errors name the
 * file and what it should have held, or that the key is not the
 * certificate's. */
int server_tls_load(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
                    struct cap_error *err);

#endif
