/* method_paths.h - the path prefix of each accolade.v1 service, for tables
 * of methods (the gateway's authz table, the CLI's commands, tests):
 * AW "GetBadge" is "/accolade.v1.AwardService/GetBadge". Short names, so
 * include it only where such a table is written. */
#ifndef ACCOLADE_METHOD_PATHS_H
#define ACCOLADE_METHOD_PATHS_H

#define AW "/accolade.v1.AwardService/"
#define CR "/accolade.v1.CredentialService/"
#define LB "/accolade.v1.LeaderboardService/"
#define NO "/accolade.v1.NominationService/"
#define NT "/accolade.v1.NotifyService/"
#define SG "/accolade.v1.SignalService/"

#endif
