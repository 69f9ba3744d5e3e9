package kafkaauth

import (
	"fmt"
	"strings"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// Validate checks that SourceAccessConfigurations describe one way to connect: at most one
// entry per type (VPC_SUBNET and VPC_SECURITY_GROUP may repeat, as on Lambda), at most one
// authentication method among BASIC_AUTH, SASL_SCRAM_256_AUTH, SASL_SCRAM_512_AUTH and
// CLIENT_CERTIFICATE_TLS_AUTH (mTLS and SASL together are refused), a URI on every secret type,
// and no type kafkaesm cannot connect with (VIRTUAL_HOST, IAM_AUTH, OAUTHBEARER_*). It returns ""
// when they are acceptable, otherwise a message for the user. It does not read secrets: a
// secret that does not exist yet is reported later as ESM_CONFIG_NOT_VALID, as Lambda does.
//
// The API's create/update validation (internal/mapping, validateAccess, which also checks
// lengths and AWS's exact wording) enforces the same rules and cannot import this package;
// Options runs Validate again so a stored mapping that slipped past (an older version's rules)
// fails as ESM_CONFIG_NOT_VALID instead of connecting in a way the user did not ask for.
func Validate(sacs []mapping.SourceAccessConfiguration) string {
	seen := map[string]bool{}
	var auth []string
	for _, sac := range sacs {
		switch sac.Type {
		case VPCSubnet, VPCSecurityGroup:
			continue
		}
		if seen[sac.Type] {
			return fmt.Sprintf("Duplicate SourceAccessConfiguration type %s.", sac.Type)
		}
		seen[sac.Type] = true
		switch sac.Type {
		case BasicAuth, SASLScram256Auth, SASLScram512Auth, ClientCertTLSAuth:
			auth = append(auth, sac.Type)
			fallthrough
		case ServerRootCACert:
			if strings.TrimSpace(sac.URI) == "" {
				return fmt.Sprintf("The URI of source access configuration %s must be a Secrets Manager secret ARN.", sac.Type)
			}
		case "":
			return "Each source access configuration needs a Type."
		case virtualHost:
			return "Unsupported SourceAccessConfiguration type VIRTUAL_HOST for self-managed Apache Kafka."
		case iamAuth, oauthBearerAuth, iamOAuthBearerAuth,
			"OAUTHBEARER_SCOPE", "OAUTHBEARER_AUDIENCE", "OAUTHBEARER_LOGICAL_CLUSTER", "OAUTHBEARER_IDENTITY_POOL":
			return fmt.Sprintf("SourceAccessConfiguration type %s is not supported by kafkaesm.", sac.Type)
		default:
			return fmt.Sprintf("Unsupported SourceAccessConfiguration type %s.", sac.Type)
		}
	}
	if len(auth) > 1 {
		return fmt.Sprintf("Only one authentication method may be used; SourceAccessConfigurations contains %s.", strings.Join(auth, ", "))
	}
	return ""
}
