/*
 * cmd_config.c — `churnwatch config show`: the effective settings as an INI
 * file (defaults, then the configuration file, then --set overrides).
 */
#include "cli.h"

#include <string.h>

int cmd_config(int argc, char **argv)
{
    if (argc < 2 || !cli_find("config", argv[1]))
        return cli_unknown_sub("config", argc < 2 ? NULL : argv[1]);
    if (argc > 2) {
        cli_error("usage: churnwatch config show [--config F] [--set K=V]...");
        return EXIT_USAGE;
    }
    cw_config *cfg;
    int rc = cli_load_config(NULL, &cfg);
    if (rc)
        return rc;
    cli_warn_db_password(cfg); /* shown masked below, but it should not be there */
    cw_config_write(cfg, stdout);
    cw_config_free(cfg);
    return 0;
}
