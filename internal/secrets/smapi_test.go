package secrets

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	sm "github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// TestAPIWithSDK drives the Secrets Manager API with the AWS SDK's own client.
func TestAPIWithSDK(t *testing.T) {
	db, path := openDB(t)
	sealer, _ := NewSealer(key(5))
	var logs bytes.Buffer
	var changed []string
	h, err := NewAPI(APIConfig{Repo: NewRepo(db, sealer), Region: "eu-west-1", AccountID: "123456789012",
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Changed: func(arn string) { changed = append(changed, arn) }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cl := sm.NewFromConfig(aws.Config{Region: "eu-west-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKID", "secret", ""),
		Retryer:     func() aws.Retryer { return aws.NopRetryer{} }})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	const v1, v2 = `{"username":"alice","password":"pw-ONE-6b2e"}`, `{"username":"alice","password":"pw-TWO-0f3c"}`
	created, err := cl.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("kafka/alice"), SecretString: aws.String(v1),
		Description: aws.String("SCRAM"), Tags: []smtypes.Tag{{Key: aws.String("team"), Value: aws.String("data")}}})
	if err != nil {
		t.Fatal(err)
	}
	arn := aws.ToString(created.ARN)
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:kafka/alice-") || aws.ToString(created.VersionId) == "" {
		t.Fatalf("CreateSecret = %s %s", arn, aws.ToString(created.VersionId))
	}
	var exists *smtypes.ResourceExistsException
	if _, err := cl.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("kafka/alice"), SecretString: aws.String(v1)}); !errors.As(err, &exists) {
		t.Fatalf("duplicate: %v", err)
	}

	got, err := cl.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("kafka/alice")})
	if err != nil || aws.ToString(got.SecretString) != v1 || got.VersionStages[0] != "AWSCURRENT" || got.CreatedDate == nil {
		t.Fatalf("GetSecretValue: %+v %v", got, err)
	}
	put, err := cl.PutSecretValue(ctx, &sm.PutSecretValueInput{SecretId: aws.String(arn), SecretString: aws.String(v2)})
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != 2 || changed[0] != arn || changed[1] != arn { // CreateSecret, PutSecretValue
		t.Fatalf("Changed calls: %v", changed)
	}
	prev, err := cl.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(arn[:len(arn)-7]), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != v1 {
		t.Fatalf("AWSPREVIOUS by partial ARN: %v", err)
	}
	desc, err := cl.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(arn)})
	if err != nil || aws.ToString(desc.Description) != "SCRAM" || desc.VersionIdsToStages[aws.ToString(put.VersionId)][0] != "AWSCURRENT" ||
		len(desc.Tags) != 1 || desc.CreatedDate == nil {
		t.Fatalf("DescribeSecret: %+v %v", desc, err)
	}
	if _, err := cl.UpdateSecret(ctx, &sm.UpdateSecretInput{SecretId: aws.String(arn), Description: aws.String("new")}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := cl.CreateSecret(ctx, &sm.CreateSecretInput{Name: aws.String("other-" + string(rune('a'+i))), SecretBinary: []byte{0, 1, 2}}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	p := sm.NewListSecretsPaginator(cl, &sm.ListSecretsInput{MaxResults: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page.SecretList {
			names = append(names, aws.ToString(s.Name))
		}
	}
	if strings.Join(names, ",") != "kafka/alice,other-a,other-b,other-c" {
		t.Fatalf("ListSecrets: %v", names)
	}
	filtered, err := cl.ListSecrets(ctx, &sm.ListSecretsInput{Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"kafka/"}}}})
	if err != nil || len(filtered.SecretList) != 1 {
		t.Fatalf("filtered: %v", err)
	}
	bin, err := cl.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("other-a")})
	if err != nil || !bytes.Equal(bin.SecretBinary, []byte{0, 1, 2}) || bin.SecretString != nil {
		t.Fatalf("binary: %v", err)
	}

	var notFound *smtypes.ResourceNotFoundException
	if _, err := cl.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String("missing")}); !errors.As(err, &notFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := cl.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String(arn), RecoveryWindowInDays: aws.Int64(7)}); err != nil {
		t.Fatal(err)
	}
	var invalidReq *smtypes.InvalidRequestException
	if _, err := cl.GetSecretValue(ctx, &sm.GetSecretValueInput{SecretId: aws.String(arn)}); !errors.As(err, &invalidReq) {
		t.Fatalf("scheduled deletion: %v", err)
	}
	del, err := cl.DeleteSecret(ctx, &sm.DeleteSecretInput{SecretId: aws.String(arn), ForceDeleteWithoutRecovery: aws.Bool(true)})
	if err != nil || del.DeletionDate == nil {
		t.Fatalf("force delete: %v", err)
	}
	if _, err := cl.DescribeSecret(ctx, &sm.DescribeSecretInput{SecretId: aws.String(arn)}); !errors.As(err, &notFound) {
		t.Fatalf("after force delete: %v", err)
	}

	// Malformed requests echo nothing of the body.
	resp, err := http.Post(srv.URL+"/", "application/x-amz-json-1.1", strings.NewReader(`{"Name":"x","SecretString":"pw-THREE-77aa`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || strings.Contains(string(b), "pw-THREE") {
		t.Fatalf("bad request answered %d %s", resp.StatusCode, b)
	}

	_ = db.Close()
	leaks := []string{"pw-ONE-6b2e", "pw-TWO-0f3c", "pw-THREE-77aa"}
	for _, text := range []string{logs.String(), readFile(path), readFile(path + "-wal")} {
		for _, s := range leaks {
			if strings.Contains(text, s) {
				t.Fatalf("secret %s found in logs or database", s)
			}
		}
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
