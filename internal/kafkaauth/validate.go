package kafkaauth

import (
	"fmt"
	"strings"

	"github.com/kafkaesm/kafkaesm/internal/mapping"
)

// Validate checks a self-managed Kafka mapping's SourceAccessConfigurations at create and update
// time. It returns "" when they are acceptable, otherwise the message of the
// InvalidParameterValueException the API returns. It does not read secrets: a secret that does
// not exist yet is reported later as ESM_CONFIG_NOT_VALID, as Lambda does.
//
// Rules: at most one entry per type; at most one authentication type among BASIC_AUTH,
// SASL_SCRAM_256_AUTH, SASL_SCRAM_512_AUTH and CLIENT_CERTIFICATE_TLS_AUTH (mTLS and SASL
// together are refused: Lambda authenticates with one method); secret types need a URI;
// VPC_SUBNET URIs start with "subnet:" and VPC_SECURITY_GROUP URIs with "security_group:", as
// Lambda requires; types that do not apply to self-managed Kafka or that kafkaesm does not
// implement (VIRTUAL_HOST, IAM_AUTH, OAUTHBEARER_*) are refused by name. An empty list is
// accepted here (PLAINTEXT); whether the API demands the member is the API's rule.
func Validate(sacs []mapping.SourceAccessConfiguration) string {
	seen := map[string]bool{}
	var auth []string
	for _, sac := range sacs {
		if seen[sac.Type] {
			return fmt.Sprintf("SourceAccessConfigurations contains more than one %s entry.", sac.Type)
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
		case VPCSubnet:
			if !strings.HasPrefix(sac.URI, "subnet:") {
				return fmt.Sprintf("The URI of source access configuration %s must have the form subnet:<subnet id>.", sac.Type)
			}
		case VPCSecurityGroup:
			if !strings.HasPrefix(sac.URI, "security_group:") {
				return fmt.Sprintf("The URI of source access configuration %s must have the form security_group:<security group id>.", sac.Type)
			}
		case "":
			return "Each source access configuration needs a Type."
		case virtualHost:
			return "Source access configuration type VIRTUAL_HOST is only valid for Amazon MQ for RabbitMQ."
		case iamAuth, oauthBearerAuth, iamOAuthBearerAuth,
			"OAUTHBEARER_SCOPE", "OAUTHBEARER_AUDIENCE", "OAUTHBEARER_LOGICAL_CLUSTER", "OAUTHBEARER_IDENTITY_POOL":
			return fmt.Sprintf("Source access configuration type %s is not supported by kafkaesm for self-managed Apache Kafka.", sac.Type)
		default:
			return fmt.Sprintf("Unsupported source access configuration type %s.", sac.Type)
		}
	}
	if len(auth) > 1 {
		return fmt.Sprintf("Only one authentication method may be used; SourceAccessConfigurations contains %s.", strings.Join(auth, ", "))
	}
	return ""
}
