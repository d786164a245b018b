/* attachment.h - how a stored file is answered as a download: the
 * Content-Type guessed from its name, as MLflow's server guesses it, and the
 * Content-Disposition header that names it. Used by every artifact download
 * route (artifacts.c). */
#ifndef CAP_API_ATTACHMENT_H
#define CAP_API_ATTACHMENT_H

/* The Content-Type for a file named name (a basename): text/plain for
 * MLflow's text extensions (and MLmodel, MLproject); else the type the
 * extension has, case-insensitively, after one compression suffix (.gz,
 * .bz2, ...) is stripped, like Python's mimetypes; else
 * application/octet-stream. A type a browser would run as a document or a
 * script (HTML, SVG, JavaScript, XML) comes back as text/plain: an
 * artifact is whatever a client uploaded. A static string. */
const char *attachment_mime_type(const char *name);

/* "attachment; filename=NAME" (malloc'd): NAME bare when it is one HTTP
 * token, else a quoted string; a name with non-ASCII or control bytes
 * gets its ASCII printable part as filename and all of it as RFC 5987
 * filename*=UTF-8''..., so no byte of name can end the header. */
char *attachment_disposition(const char *name);

#endif
