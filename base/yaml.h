/* yaml.h - writing YAML with libyaml's emitter: the one rule for when a
 * string must be quoted, and a JSON tree written as a YAML document. */
#ifndef CAP_YAML_H
#define CAP_YAML_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "base/error.h"

/* Whether YAML 1.2, as ruamel.yaml resolves plain scalars (DVC reads and
 * writes with it), takes s for something other than a string: a bool, an
 * int, a float, null, a timestamp, a merge key or '='. Such a string is
 * quoted; any other is written plain where YAML allows it ('yes' is a
 * string in 1.2, and DVC writes it plain). */
bool cap_yaml_resolves_non_str(const char *s);
/* doc as one block-style YAML document: objects in their order, numbers
 * as integers when integral, strings quoted by the rule above (and always
 * when YAML 1.1 readers such as Go's yaml.v2 or PyYAML would take them for
 * a bool: yes/no/on/off/y/n). *out malloc'd. -CAP_EINVAL for text libyaml
 * refuses (not UTF-8). */
int cap_yaml_from_json(const cJSON *doc, char **out, struct cap_error *err);

#endif
