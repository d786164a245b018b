/* tls.c - reading and checking the TLS certificate and key (see tls.h). */
#include "server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

/* A PEM file is a few kilobytes; anything past this is not one. */
#define MAX_PEM_BYTES (1 << 20)

static int read_text(const char *path, const char *flag, char **out, struct cap_error *err)
{
    struct cap_buf b;
    cap_buf_init(&b);
    struct cap_error why = {0};
    int rc = cap_buf_read_file(&b, path, MAX_PEM_BYTES, &why);
    if (rc < 0) {
        cap_buf_free(&b);
        *out = NULL;
        if (rc == -CAP_ETOOLARGE)
            return cap_err(err, CAP_EINVAL, "%s '%s': over 1 MiB, not a PEM file", flag, path);
        return cap_err(err, CAP_EINVAL, "%s %s", flag, why.msg); /* "<path>: <why>" */
    }
    *out = cap_buf_steal(&b);
    return 0;
}

static int check_pair(const char *cert_path, const char *cert_pem, const char *key_path,
                      const char *key_pem, struct cap_error *err)
{
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, (void *)"") : NULL;
    int rc = 0;
    if (!cert)
        rc = cap_err(err, CAP_EINVAL,
                     "--tls-cert '%s': expected a PEM certificate (-----BEGIN CERTIFICATE-----)",
                     cert_path);
    else if (!key)
        rc = cap_err(err, CAP_EINVAL,
                     "--tls-key '%s': expected an unencrypted PEM private key (-----BEGIN "
                     "PRIVATE KEY-----)",
                     key_path);
    else if (X509_check_private_key(cert, key) != 1)
        rc = cap_err(err, CAP_EINVAL, "--tls-key '%s' is not the key of --tls-cert '%s'",
                     key_path, cert_path);
    ERR_clear_error();
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

int server_tls_load(const char *cert_path, const char *key_path, char **cert_pem, char **key_pem,
                    struct cap_error *err)
{
    *cert_pem = *key_pem = NULL;
    if (!cert_path && !key_path)
        return 0;
    if (!cert_path || !key_path)
        return cap_err(err, CAP_EINVAL,
                       "TLS needs both --tls-cert and --tls-key (PEM files); %s was not given",
                       cert_path ? "--tls-key" : "--tls-cert");
    int rc = read_text(cert_path, "--tls-cert", cert_pem, err);
    if (rc == 0)
        rc = read_text(key_path, "--tls-key", key_pem, err);
    if (rc == 0)
        rc = check_pair(cert_path, *cert_pem, key_path, *key_pem, err);
    if (rc < 0) {
        free(*cert_pem);
        free(*key_pem);
        *cert_pem = *key_pem = NULL;
    }
    return rc;
}
