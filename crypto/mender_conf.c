/* Reading ArtifactVerifyKey(s) from a Mender client configuration. */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/mender_conf.h"

static int add_path(char ***paths, size_t *count, const char *p)
{
	char **grown;

	/* The client skips a path already in its list. */
	for (size_t i = 0; i < *count; i++)
		if (strcmp((*paths)[i], p) == 0)
			return 0;
	grown = realloc(*paths, (*count + 1) * sizeof(**paths));

	if (!grown)
		return -ENOMEM;
	*paths = grown;
	grown[*count] = strdup(p);
	if (!grown[*count])
		return -ENOMEM;
	(*count)++;
	return 0;
}

static int read_file(const char *path, char **out, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t n;
	int ret = 0;

	if (!f) {
		ret = -errno;
		snprintf(err, errlen, "%s", strerror(errno));
		return ret;
	}
	buf = malloc(MFS_MENDER_CONF_MAX + 1);
	if (!buf) {
		ret = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	n = fread(buf, 1, MFS_MENDER_CONF_MAX + 1, f);
	if (ferror(f)) {
		ret = -EIO;
		snprintf(err, errlen, "read error");
	} else if (n > MFS_MENDER_CONF_MAX) {
		ret = -EFBIG;
		snprintf(err, errlen, "larger than %d bytes", MFS_MENDER_CONF_MAX);
	} else {
		buf[n] = '\0';
		*out = buf;
		buf = NULL;
	}
out:
	free(buf);
	fclose(f);
	return ret;
}

int mfs_mender_conf_keys(const char *path, char ***paths_out,
			 size_t *count_out, char *err, size_t errlen)
{
	struct json_object *root = NULL, *one, *many;
	char **paths = NULL, *text = NULL;
	size_t count = 0;
	bool has_one, has_many;
	int ret;

	ret = read_file(path, &text, err, errlen);
	if (ret < 0)
		return ret;
	root = json_tokener_parse(text);
	if (!root || !json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "not a JSON object");
		ret = -EINVAL;
		goto out;
	}
	has_one = json_object_object_get_ex(root, "ArtifactVerifyKey", &one) &&
		  !json_object_is_type(one, json_type_null);
	/* The client counts an empty list as not set. */
	has_many = json_object_object_get_ex(root, "ArtifactVerifyKeys", &many) &&
		   !json_object_is_type(many, json_type_null) &&
		   !(json_object_is_type(many, json_type_array) &&
		     json_object_array_length(many) == 0);
	if (has_one && has_many) {
		snprintf(err, errlen, "both ArtifactVerifyKey and "
			 "ArtifactVerifyKeys are set; use one");
		ret = -EINVAL;
		goto out;
	}
	if (has_one) {
		if (!json_object_is_type(one, json_type_string)) {
			snprintf(err, errlen, "ArtifactVerifyKey is not a string");
			ret = -EINVAL;
			goto out;
		}
		ret = add_path(&paths, &count, json_object_get_string(one));
	} else if (has_many) {
		if (!json_object_is_type(many, json_type_array)) {
			snprintf(err, errlen, "ArtifactVerifyKeys is not a list");
			ret = -EINVAL;
			goto out;
		}
		for (size_t i = 0; i < json_object_array_length(many) && !ret; i++) {
			struct json_object *p = json_object_array_get_idx(many, i);

			if (!json_object_is_type(p, json_type_string)) {
				snprintf(err, errlen, "ArtifactVerifyKeys[%zu] "
					 "is not a string", i);
				ret = -EINVAL;
				goto out;
			}
			ret = add_path(&paths, &count, json_object_get_string(p));
		}
	}
	if (ret < 0)
		snprintf(err, errlen, "out of memory");
out:
	json_object_put(root);
	free(text);
	if (ret < 0) {
		mfs_mender_conf_free(paths, count);
		return ret;
	}
	*paths_out = paths;
	*count_out = count;
	return 0;
}

void mfs_mender_conf_free(char **paths, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(paths[i]);
	free(paths);
}
