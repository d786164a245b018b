/* openlineage.h - the rules every OpenLineage (spec 2-0-2) RunEvent Capstan
 * writes shares, in one place: the producer, the schema URLs, the time
 * format, facets and datasets with a version facet. registry/lineage.c (a
 * model version's lineage) and pipeline/openlineage.c (pipeline and stage
 * runs) build their events from these. */
#ifndef CAP_OPENLINEAGE_H
#define CAP_OPENLINEAGE_H

#include <cjson/cJSON.h>
#include <stdint.h>

#define CAP_OL_PRODUCER "https://github.com/capstan/capstan"
#define CAP_OL_SPEC "https://openlineage.io/spec/"
#define CAP_OL_RUN_EVENT_SCHEMA CAP_OL_SPEC "2-0-2/OpenLineage.json#/$defs/RunEvent"
/* Facet schemas, relative to CAP_OL_SPEC (the versions openlineage-python
 * 1.54's generated models name). */
#define CAP_OL_FACET_VERSION "facets/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet"
#define CAP_OL_FACET_PARENT "facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"
#define CAP_OL_FACET_NOMINAL "facets/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet"
#define CAP_OL_FACET_ERROR "facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
#define CAP_OL_FACET_SOURCE "facets/1-1-0/SourceCodeLocationJobFacet.json#/$defs/SourceCodeLocationJobFacet"

/* ms since the epoch as ISO 8601 UTC with milliseconds:
 * "2026-12-06T02:25:36.123Z" (out: 32 bytes). */
void cap_ol_time(int64_t ms, char out[32]);
/* {eventTime, producer, schemaURL, eventType: type}, to which the caller
 * adds run, job, inputs and outputs. */
cJSON *cap_ol_event(const char *type, int64_t time_ms);
/* Adds facets[key] = {_producer, _schemaURL: CAP_OL_SPEC schema} and
 * returns it for the facet's own fields. */
cJSON *cap_ol_facet(cJSON *facets, const char *key, const char *schema);
/* {namespace, name, facets: {version: {datasetVersion: version}}} (no facets
 * when version is NULL or empty). */
cJSON *cap_ol_dataset(const char *ns, const char *name, const char *version);

#endif
