/*
 * Checking the header's JSON.  Version 3: header-info holds "payloads"
 * (one {"type": ...} per data member), "artifact_provides" with an
 * "artifact_name", and "artifact_depends" with a "device_type" list.
 * Version 2: "updates", "artifact_name" and "device_types_compatible".
 * type-info is an object whose "type" agrees with header-info; meta-data,
 * when not empty, is an object.  A "type" of null declares an empty
 * payload (a bootstrap artifact).
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "artifact/header_info.h"

/* Go's decoder, which the client uses, allows white space after the
 * value and nothing else. */
static int only_space_after(const struct mfs_blob *b, size_t end)
{
	for (size_t i = end; i < b->size; i++)
		if (!strchr(" \t\r\n", b->data[i]) || b->data[i] == '\0')
			return 0;
	return 1;
}

/* Parses a whole buffer as one JSON value; NULL when it is not. */
static struct json_object *parse_json(const struct mfs_blob *b)
{
	struct json_tokener *tok;
	struct json_object *obj;

	if (!b || b->size > MFS_HEADER_MAX_FILE)
		return NULL;
	tok = json_tokener_new();
	if (!tok)
		return NULL;
	obj = json_tokener_parse_ex(tok, (const char *)b->data, (int)b->size);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !only_space_after(b, json_tokener_get_parse_end(tok))) {
		json_object_put(obj);
		obj = NULL;
	}
	json_tokener_free(tok);
	return obj;
}

static struct json_object *member_of(struct json_object *obj, const char *key,
				     enum json_type type)
{
	struct json_object *v;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* The "payloads" (v3) or "updates" (v2) array of header-info. */
static struct json_object *payload_list(struct json_object *info, int version)
{
	return member_of(info, version == 2 ? "updates" : "payloads",
			 json_type_array);
}

static int check_header_info(const struct mfs_artifact *a,
			     struct json_object *info, char *err, size_t errlen)
{
	struct json_object *provides, *depends;

	if (a->version == 2) {
		if (!member_of(info, "artifact_name", json_type_string) ||
		    !member_of(info, "device_types_compatible", json_type_array)) {
			snprintf(err, errlen, "header-info lacks artifact_name "
				 "or device_types_compatible");
			return -EINVAL;
		}
		return 0;
	}
	provides = member_of(info, "artifact_provides", json_type_object);
	depends = member_of(info, "artifact_depends", json_type_object);
	if (!provides || !member_of(provides, "artifact_name", json_type_string)) {
		snprintf(err, errlen, "header-info lacks artifact_provides.artifact_name");
		return -EINVAL;
	}
	if (!depends || !member_of(depends, "device_type", json_type_array)) {
		snprintf(err, errlen, "header-info lacks artifact_depends.device_type");
		return -EINVAL;
	}
	return 0;
}

/* Checks that headers/NNNN/type-info and meta-data are JSON objects. */
static int check_payload_header(struct mfs_artifact *a, size_t i,
				char *err, size_t errlen)
{
	char name[64];
	const struct mfs_blob *b;
	struct json_object *obj, *type;
	int ret = 0;

	snprintf(name, sizeof(name), "headers/%04zu/type-info", i);
	b = mfs_header_find(&a->header, name);
	obj = parse_json(b);
	if (!obj || !json_object_is_type(obj, json_type_object)) {
		snprintf(err, errlen, "header/%s is %s", name,
			 b ? "not a JSON object" : "missing");
		ret = -EINVAL;
		goto out;
	}
	/* mender-artifact writes "type": "" here for rootfs-image while
	 * header-info names the type, so only the shape is checked. */
	if (json_object_object_get_ex(obj, "type", &type) &&
	    !json_object_is_type(type, json_type_string) &&
	    !json_object_is_type(type, json_type_null)) {
		snprintf(err, errlen, "header/%s has a type that is not a string",
			 name);
		ret = -EINVAL;
		goto out;
	}
	snprintf(name, sizeof(name), "headers/%04zu/meta-data", i);
	b = mfs_header_find(&a->header, name);
	if (b && b->size > 0) {
		struct json_object *meta = parse_json(b);

		if (!meta || !json_object_is_type(meta, json_type_object)) {
			snprintf(err, errlen, "header/%s is not a JSON object",
				 name);
			ret = -EINVAL;
			/* mender-artifact reads white space as no meta-data;
			 * the client only an empty file. */
			if (only_space_after(b, 0))
				mfs_artifact_note_lenient(a, "meta-data that is "
							  "only white space");
		}
		json_object_put(meta);
	}
out:
	json_object_put(obj);
	return ret;
}

/* The order the client's header lexer wants (version 3): header-info
 * first, then the scripts, then for each payload in turn its type-info
 * and, optionally, its meta-data; one sub-header per payload.
 * mender-artifact validate reads meta-data before type-info too. */
static int check_header_order(struct mfs_artifact *a, char *err, size_t errlen)
{
	const struct mfs_header *h = &a->header;
	char type_info[32], meta_data[32];
	size_t i = 0, index = 0;

	if (h->count == 0 || strcmp(h->files[0].name, "header-info") != 0) {
		snprintf(err, errlen, "header.tar does not start with header-info");
		return -EINVAL;
	}
	for (i = 1; i < h->count &&
	     strncmp(h->files[i].name, "scripts/", 8) == 0; i++)
		;
	for (; i < h->count; index++) {
		const char *name = h->files[i].name;

		snprintf(type_info, sizeof(type_info), "headers/%04zu/type-info",
			 index);
		snprintf(meta_data, sizeof(meta_data), "headers/%04zu/meta-data",
			 index);
		if (index >= a->payload_count) {
			snprintf(err, errlen, "header.tar holds %s, but the "
				 "artifact has %zu payload%s", name,
				 a->payload_count, a->payload_count == 1 ? "" : "s");
			return -EINVAL;
		}
		if (strcmp(name, type_info) != 0) {
			if (strcmp(name, meta_data) == 0)
				mfs_artifact_note_lenient(a, "meta-data before "
							  "type-info");
			snprintf(err, errlen, "header.tar holds %s where the "
				 "client wants %s", name, type_info);
			return -EINVAL;
		}
		if (++i < h->count && strcmp(h->files[i].name, meta_data) == 0)
			i++;
	}
	return 0;
}

int mfs_header_info_check(struct mfs_artifact *a, char *err,
			  size_t errlen)
{
	struct json_object *info, *list;
	size_t count;
	int ret = 0;

	info = parse_json(mfs_header_find(&a->header, "header-info"));
	if (!info || !json_object_is_type(info, json_type_object)) {
		snprintf(err, errlen, "header-info is missing or not a JSON object");
		ret = -EINVAL;
		goto out;
	}
	ret = check_header_info(a, info, err, errlen);
	if (ret < 0)
		goto out;
	if (a->version == 3 &&
	    (ret = check_header_order(a, err, errlen)) < 0)
		goto out;
	list = payload_list(info, a->version);
	count = list ? json_object_array_length(list) : 0;
	if (!list || count != a->payload_count) {
		snprintf(err, errlen, "header-info declares %zu payloads, the "
			 "artifact has %zu", count, a->payload_count);
		ret = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < count && ret == 0; i++) {
		struct json_object *p = json_object_array_get_idx(list, i), *type;

		if (!json_object_is_type(p, json_type_object) ||
		    !json_object_object_get_ex(p, "type", &type) ||
		    !(json_object_is_type(type, json_type_string) ||
		      json_object_is_type(type, json_type_null))) {
			snprintf(err, errlen, "header-info payload %zu has no type", i);
			ret = -EINVAL;
			break;
		}
		/* Version 2 headers carry type-info too, but its schema
		 * differs; only version 3 is held to the cross-check. */
		if (a->version == 3)
			ret = check_payload_header(a, i, err, errlen);
	}
out:
	json_object_put(info);
	return ret;
}

int mfs_header_info_payload_is_empty(const struct mfs_artifact *a, size_t i)
{
	struct json_object *info, *list, *p, *type;
	int empty = 0;

	info = parse_json(mfs_header_find(&a->header, "header-info"));
	list = info ? payload_list(info, a->version) : NULL;
	p = list ? json_object_array_get_idx(list, i) : NULL;
	if (p && json_object_object_get_ex(p, "type", &type))
		empty = json_object_is_type(type, json_type_null);
	json_object_put(info);
	return empty;
}
