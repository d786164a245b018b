/* stream.h - responses whose body arrives while it is being sent (an S3
 * download, blob_stream): the event loop never waits for it; a connection
 * with nothing to send is suspended and resumed when bytes come. */
#ifndef CAP_SERVER_STREAM_H
#define CAP_SERVER_STREAM_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "blob/blob.h"

struct stream_resp;

struct server_streams {
    pthread_mutex_t mu;
    struct stream_resp *head;   /* every live stream response */
    atomic_bool stopping;
};

void server_streams_init(struct server_streams *ss);
void server_streams_destroy(struct server_streams *ss);
/* A response of size bytes read from st on conn; takes st (closed with the
 * response, or here when MHD refuses: then NULL). A body that ends short
 * of size, or fails, ends the connection, so the client sees it cut. */
struct MHD_Response *server_stream_response(struct server_streams *ss,
                                            struct MHD_Connection *conn, struct blob_stream *st,
                                            uint64_t size);
/* Before the daemons stop (MHD refuses to stop with a connection
 * suspended): every stream response ends with an error from now on, and
 * those waiting are resumed. */
void server_streams_stop(struct server_streams *ss);

#endif
