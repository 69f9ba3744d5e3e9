package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/kafkaesm/kafkaesm/internal/invoke/invoketest"
)

const arnPrefix = "arn:aws:lambda:us-east-1:000000000000:function:"

// TestVersionsAndAliasesSDK drives every version and alias operation, and each of their
// errors, through aws-sdk-go-v2 against a real node running the Go test handler.
func TestVersionsAndAliasesSDK(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	ctx := testCtx(t)
	fn := aws.String("vfn")
	setVar := func(v string) *lambda.UpdateFunctionConfigurationOutput {
		t.Helper()
		out, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: fn,
			Environment: &types.Environment{Variables: map[string]string{"USER_VAR": v}}})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// invokeVar invokes and returns the function's USER_VAR and the executed version.
	invokeVar := func(name, qualifier string) (string, string) {
		t.Helper()
		in := &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"action":"env"}`)}
		if qualifier != "" {
			in.Qualifier = aws.String(qualifier)
		}
		out, err := c.Invoke(ctx, in)
		if err != nil || out.FunctionError != nil {
			t.Fatalf("invoke %s %s: %v", name, qualifier, err)
		}
		var env struct {
			UserVar string `json:"USER_VAR"`
			Version string `json:"AWS_LAMBDA_FUNCTION_VERSION"`
		}
		if err := json.Unmarshal(out.Payload, &env); err != nil {
			t.Fatal(err)
		}
		if env.Version != aws.ToString(out.ExecutedVersion) {
			t.Errorf("AWS_LAMBDA_FUNCTION_VERSION %s, X-Amz-Executed-Version %s", env.Version, aws.ToString(out.ExecutedVersion))
		}
		return env.UserVar, aws.ToString(out.ExecutedVersion)
	}

	// CreateFunction with Publish: version 1 comes back.
	created, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: fn, Runtime: types.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Role: aws.String("arn:aws:iam::000000000000:role/r"), Publish: true,
		Code: &types.FunctionCode{ZipFile: zipBootstrap(t)}, Environment: &types.Environment{Variables: map[string]string{"USER_VAR": "one"}}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(created.Version) != "1" || aws.ToString(created.FunctionArn) != arnPrefix+"vfn:1" {
		t.Fatalf("CreateFunction with Publish: Version %s FunctionArn %s", aws.ToString(created.Version), aws.ToString(created.FunctionArn))
	}
	// Nothing changed: PublishVersion returns version 1 again.
	again, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn})
	if err != nil || aws.ToString(again.Version) != "1" {
		t.Fatalf("unchanged PublishVersion: %v %+v", err, again)
	}

	latest := setVar("two")
	_, err = c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn, CodeSha256: aws.String("bm90IHRoZSBoYXNo")})
	wantErr(t, err, "InvalidParameterValueException", "CodeSHA256 (bm90IHRoZSBoYXNo) is different from current CodeSHA256 in $LATEST ("+aws.ToString(latest.CodeSha256)+"). Please try again with the CodeSHA256 in $LATEST.", true)
	_, err = c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn, RevisionId: aws.String("stale")})
	wantErr(t, err, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id", true)
	_, err = c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("nope")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: "+arnPrefix+"nope", true)
	v2, err := c.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: fn, CodeSha256: latest.CodeSha256,
		RevisionId: latest.RevisionId, Description: aws.String("second")})
	if err != nil || aws.ToString(v2.Version) != "2" || aws.ToString(v2.Description) != "second" || v2.Environment.Variables["USER_VAR"] != "two" {
		t.Fatalf("PublishVersion: %v %+v", err, v2)
	}
	// UpdateFunctionCode with Publish and the same code and configuration publishes nothing new.
	up, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: fn, ZipFile: zipBootstrap(t), Publish: true})
	if err != nil || aws.ToString(up.Version) != "2" {
		t.Fatalf("UpdateFunctionCode with Publish, nothing changed: %v %+v", err, up)
	}
	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: fn, ZipFile: zipBootstrap(t), RevisionId: aws.String("stale")})
	wantErr(t, err, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id", false)
	// New code, published: version 3; versions 1 and 2 keep theirs.
	setVar("three")
	v3, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: fn, ZipFile: zipBootstrapWith(t, "v3"), Publish: true})
	if err != nil || aws.ToString(v3.Version) != "3" || aws.ToString(v3.CodeSha256) == aws.ToString(v2.CodeSha256) {
		t.Fatalf("UpdateFunctionCode with Publish: %v %+v", err, v3)
	}

	// ListVersionsByFunction: $LATEST first, then the versions, one per page.
	var listed []string
	p := lambda.NewListVersionsByFunctionPaginator(c, &lambda.ListVersionsByFunctionInput{FunctionName: fn, MaxItems: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Versions) > 1 {
			t.Fatalf("page of %d", len(page.Versions))
		}
		for _, v := range page.Versions {
			listed = append(listed, aws.ToString(v.Version)+"="+aws.ToString(v.FunctionArn))
		}
	}
	if want := []string{"$LATEST=" + arnPrefix + "vfn:$LATEST", "1=" + arnPrefix + "vfn:1", "2=" + arnPrefix + "vfn:2", "3=" + arnPrefix + "vfn:3"}; !slices.Equal(listed, want) {
		t.Fatalf("ListVersionsByFunction: %v, want %v", listed, want)
	}
	_, err = c.ListVersionsByFunction(ctx, &lambda.ListVersionsByFunctionInput{FunctionName: fn, Marker: aws.String("bogus")})
	wantErr(t, err, "InvalidParameterValueException", "", false)
	_, err = c.ListFunctions(ctx, &lambda.ListFunctionsInput{FunctionVersion: types.FunctionVersionAll})
	wantErr(t, err, "InvalidParameterValueException", "use ListVersionsByFunction", false)

	// Qualified reads.
	got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: fn, Qualifier: aws.String("1")})
	if err != nil || got.Configuration.Environment.Variables["USER_VAR"] != "one" || aws.ToString(got.Configuration.FunctionArn) != arnPrefix+"vfn:1" {
		t.Fatalf("GetFunction version 1: %v %+v", err, got)
	}
	code, _, body := rawRequest(t, "GET", aws.ToString(got.Code.Location), "")
	if code != 200 || body != string(zipBootstrap(t)) {
		t.Fatalf("version 1's Code.Location: %d, %d bytes", code, len(body))
	}
	cfg, err := c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String(arnPrefix + "vfn:2")})
	if err != nil || aws.ToString(cfg.Version) != "2" || cfg.Environment.Variables["USER_VAR"] != "two" {
		t.Fatalf("GetFunctionConfiguration vfn:2: %v %+v", err, cfg)
	}
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: fn, Qualifier: aws.String("9")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: "+arnPrefix+"vfn:9", true)
	_, err = c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("vfn:1"), Qualifier: aws.String("2")})
	wantErr(t, err, "InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.", true)

	// Invoke by version, with X-Amz-Executed-Version.
	for _, c := range []struct{ name, qualifier, v, version string }{
		{"vfn", "", "three", "$LATEST"}, {"vfn", "$LATEST", "three", "$LATEST"}, {"vfn", "1", "one", "1"},
		{"vfn:2", "", "two", "2"}, {arnPrefix + "vfn:3", "", "three", "3"},
	} {
		if v, version := invokeVar(c.name, c.qualifier); v != c.v || version != c.version {
			t.Errorf("invoke %s %s: USER_VAR %s version %s, want %s %s", c.name, c.qualifier, v, version, c.v, c.version)
		}
	}
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: fn, Qualifier: aws.String("9")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: "+arnPrefix+"vfn:9", true)
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("vfn:1"), Qualifier: aws.String("2")})
	wantErr(t, err, "InvalidParameterValueException", "The derived qualifier from the function name does not match the specified qualifier.", true)

	// Aliases.
	live, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("1"), Description: aws.String("prod")})
	if err != nil || aws.ToString(live.AliasArn) != arnPrefix+"vfn:live" || aws.ToString(live.FunctionVersion) != "1" || aws.ToString(live.RevisionId) == "" {
		t.Fatalf("CreateAlias: %v %+v", err, live)
	}
	for _, tt := range []struct {
		name      string
		in        lambda.CreateAliasInput
		code, msg string
	}{
		{"exists", lambda.CreateAliasInput{Name: aws.String("live"), FunctionVersion: aws.String("2")}, "ResourceConflictException", "Alias already exists: " + arnPrefix + "vfn:live"},
		{"no such version", lambda.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("9")}, "ResourceNotFoundException", "Function not found: " + arnPrefix + "vfn:9"},
		{"numeric name", lambda.CreateAliasInput{Name: aws.String("12"), FunctionVersion: aws.String("1")}, "ValidationException", "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)"},
		{"bad version", lambda.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("v1")}, "ValidationException", "at 'functionVersion'"},
		{"routing on $LATEST", lambda.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("$LATEST"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"1": 0.5}}}, "InvalidParameterValueException", "$LATEST is not supported for an alias pointing to more than 1 version"},
		{"two extra versions", lambda.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 0.1, "3": 0.1}}}, "InvalidParameterValueException", "Number of items in AdditionalVersionWeights cannot be greater than 1"},
		{"weight above 1", lambda.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"2": 1.5}}}, "ValidationException", "at 'routingConfig.additionalVersionWeights'"},
		{"extra is primary", lambda.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"1": 0.5}}}, "InvalidParameterValueException", "Invalid function version 1"},
		{"extra does not exist", lambda.CreateAliasInput{Name: aws.String("x"), FunctionVersion: aws.String("1"),
			RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"8": 0.5}}}, "ResourceNotFoundException", "Function not found: " + arnPrefix + "vfn:8"},
	} {
		t.Run("CreateAlias "+tt.name, func(t *testing.T) {
			in := tt.in
			in.FunctionName = fn
			_, err := c.CreateAlias(ctx, &in)
			wantErr(t, err, tt.code, tt.msg, false)
		})
	}
	if v, version := invokeVar("vfn:live", ""); v != "one" || version != "1" {
		t.Errorf("invoke vfn:live: %s %s", v, version)
	}
	got, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(arnPrefix + "vfn:live")})
	if err != nil || aws.ToString(got.Configuration.Version) != "1" || aws.ToString(got.Configuration.FunctionArn) != arnPrefix+"vfn:live" {
		t.Fatalf("GetFunction on the alias ARN: %v %+v", err, got)
	}
	ga, err := c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: fn, Name: aws.String("live")})
	if err != nil || aws.ToString(ga.Description) != "prod" || aws.ToString(ga.RevisionId) != aws.ToString(live.RevisionId) {
		t.Fatalf("GetAlias: %v %+v", err, ga)
	}
	_, err = c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: fn, Name: aws.String("nope")})
	wantErr(t, err, "ResourceNotFoundException", "Alias not found: "+arnPrefix+"vfn:nope", true)
	_, err = c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: aws.String("stale")})
	wantErr(t, err, "PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id", false)
	_, err = c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("7")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: "+arnPrefix+"vfn:7", true)
	_, err = c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("nope"), FunctionVersion: aws.String("1")})
	wantErr(t, err, "ResourceNotFoundException", "Alias not found: "+arnPrefix+"vfn:nope", true)
	ua, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"), FunctionVersion: aws.String("2"), RevisionId: ga.RevisionId})
	if err != nil || aws.ToString(ua.FunctionVersion) != "2" || aws.ToString(ua.Description) != "prod" || aws.ToString(ua.RevisionId) == aws.ToString(ga.RevisionId) {
		t.Fatalf("UpdateAlias: %v %+v", err, ua)
	}
	if v, version := invokeVar(arnPrefix+"vfn:live", ""); v != "two" || version != "2" {
		t.Errorf("invoke after UpdateAlias: %s %s", v, version)
	}
	if _, err := c.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: fn, Name: aws.String("dev"), FunctionVersion: aws.String("$LATEST")}); err != nil {
		t.Fatal(err)
	}
	// A weighted alias splits invocations: 200 with weight 0.5 on version 3. The count of
	// version 3 has standard deviation 7.1; the bound is 6 of them.
	if _, err := c.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: fn, Name: aws.String("live"),
		RoutingConfig: &types.AliasRoutingConfiguration{AdditionalVersionWeights: map[string]float64{"3": 0.5}}}); err != nil {
		t.Fatal(err)
	}
	ran := map[string]int{}
	for range 200 {
		_, version := invokeVar("vfn:live", "")
		ran[version]++
	}
	t.Logf("weighted alias, 200 invocations: %v", ran)
	if len(ran) != 2 || math.Abs(float64(ran["3"])-100) > 6*math.Sqrt(50) {
		t.Errorf("weighted alias ran %v, want versions 2 and 3 about 100 each", ran)
	}

	// ListAliases, all and by version.
	aliasNames := func(version string) []string {
		var out []string
		in := &lambda.ListAliasesInput{FunctionName: fn, MaxItems: aws.Int32(1)}
		if version != "" {
			in.FunctionVersion = aws.String(version)
		}
		p := lambda.NewListAliasesPaginator(c, in)
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page.Aliases {
				out = append(out, aws.ToString(a.Name))
			}
		}
		return out
	}
	if got := aliasNames(""); !slices.Equal(got, []string{"live", "dev"}) {
		t.Errorf("ListAliases: %v", got)
	}
	if got := aliasNames("3"); !slices.Equal(got, []string{"live"}) {
		t.Errorf("ListAliases FunctionVersion 3: %v", got)
	}

	// DeleteFunction with a qualifier deletes one version, never one an alias uses.
	_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("3")})
	wantErr(t, err, "ResourceConflictException", "Unable to delete version because the following aliases reference it: [live]", true)
	_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("$LATEST")})
	wantErr(t, err, "InvalidParameterValueException", "$LATEST version cannot be deleted without deleting the function.", true)
	_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("live")})
	wantErr(t, err, "InvalidParameterValueException", "Deletion of aliases is not currently supported.", true)
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("1")}); err != nil {
		t.Fatalf("delete version 1: %v", err)
	}
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("vfn:1")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: "+arnPrefix+"vfn:1", true)
	_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: fn, Qualifier: aws.String("1")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: "+arnPrefix+"vfn:1", true)
	// Version 2 still runs its own code after $LATEST's changed twice and version 1 went.
	if _, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: fn, ZipFile: zipBootstrapWith(t, "v4")}); err != nil {
		t.Fatal(err)
	}
	if v, version := invokeVar("vfn", "2"); v != "two" || version != "2" {
		t.Errorf("version 2 after code updates: %s %s", v, version)
	}

	// Provisioned concurrency is refused, never accepted and ignored.
	_, err = c.PutProvisionedConcurrencyConfig(ctx, &lambda.PutProvisionedConcurrencyConfigInput{FunctionName: fn, Qualifier: aws.String("live"), ProvisionedConcurrentExecutions: aws.Int32(2)})
	wantErr(t, err, "InvalidParameterValueException", "kafkaesm does not support provisioned concurrency", false)
	_, err = c.GetProvisionedConcurrencyConfig(ctx, &lambda.GetProvisionedConcurrencyConfigInput{FunctionName: fn, Qualifier: aws.String("live")})
	wantErr(t, err, "ProvisionedConcurrencyConfigNotFoundException", "No Provisioned Concurrency Config found for this function", true)
	pcs, err := c.ListProvisionedConcurrencyConfigs(ctx, &lambda.ListProvisionedConcurrencyConfigsInput{FunctionName: fn})
	if err != nil || len(pcs.ProvisionedConcurrencyConfigs) != 0 {
		t.Fatalf("ListProvisionedConcurrencyConfigs: %v %+v", err, pcs)
	}

	// DeleteAlias, then the function with everything it has.
	if _, err := c.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: fn, Name: aws.String("dev")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: fn, Name: aws.String("dev")})
	wantErr(t, err, "ResourceNotFoundException", "Alias not found: "+arnPrefix+"vfn:dev", true)
	_, err = c.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("vfn:dev")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: "+arnPrefix+"vfn:dev", true)
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: fn}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetAlias(ctx, &lambda.GetAliasInput{FunctionName: fn, Name: aws.String("live")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: "+arnPrefix+"vfn", true)
}

// TestMappingQualifiers: a mapping's FunctionName may name $LATEST, a version or an alias, as
// a name or an ARN, when it exists; anything else is refused at Create and Update.
func TestMappingQualifiers(t *testing.T) {
	runner := &heldRunner{}
	n := startServer(t, t.TempDir(), runner)
	c2 := n.client()
	ctx := testCtx(t)
	createFunction(t, c2, "q")
	if _, err := c2.PublishVersion(ctx, &lambda.PublishVersionInput{FunctionName: aws.String("q")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: aws.String("q"), Name: aws.String("live"), FunctionVersion: aws.String("1")}); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct{ name, arn string }{
		{"q", "q"}, {"q:$LATEST", "q:$LATEST"}, {"q:1", "q:1"}, {"q:live", "q:live"},
		{arnPrefix + "q:1", "q:1"}, {arnPrefix + "q:live", "q:live"}, {"000000000000:function:q:live", "q:live"},
	} {
		m, err := c2.CreateEventSourceMapping(ctx, kafkaInput(c.name, fmt.Sprintf("t%d", i)))
		if err != nil {
			t.Fatalf("CreateEventSourceMapping %s: %v", c.name, err)
		}
		if got := aws.ToString(m.FunctionArn); got != arnPrefix+c.arn {
			t.Errorf("%s: FunctionArn %s", c.name, got)
		}
	}
	for _, name := range []string{"q:2", "q:nope", arnPrefix + "q:9", "q:0"} {
		_, err := c2.CreateEventSourceMapping(ctx, kafkaInput(name, "tz"))
		wantErr(t, err, "InvalidParameterValueException", "Function does not exist", true)
	}
}

// zipBootstrapWith is zipBootstrap with one more file, so its CodeSha256 differs.
func zipBootstrapWith(t *testing.T, extra string) []byte {
	t.Helper()
	bin, err := os.ReadFile(filepath.Join(invoketest.GoHandler(t), "bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	return makeZip(t, zipEntry{"bootstrap", string(bin), 0o755}, zipEntry{"extra.txt", extra, 0o644})
}
