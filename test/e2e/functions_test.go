package e2e

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

func TestFunctionRegistry(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	ctx := testCtx(t)
	zip := bootstrapZip(t)
	sum := sha256.Sum256(zip)

	out := createFunction(t, c, "fn")
	switch {
	case aws.ToString(out.FunctionArn) != "arn:aws:lambda:us-east-1:000000000000:function:fn",
		aws.ToString(out.CodeSha256) != base64.StdEncoding.EncodeToString(sum[:]),
		out.CodeSize != int64(len(zip)), aws.ToString(out.Version) != "$LATEST",
		aws.ToInt32(out.Timeout) != 3, aws.ToInt32(out.MemorySize) != 128, out.State != types.StateActive,
		out.Runtime != types.RuntimeProvidedal2023, out.PackageType != types.PackageTypeZip, aws.ToString(out.LastModified) == "":
		t.Fatalf("CreateFunction output: %+v", out)
	}
	bootstrap := filepath.Join(n.dir, "functions", "fn", hex.EncodeToString(sum[:]), "bootstrap")
	if st, err := os.Stat(bootstrap); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Fatalf("unpacked bootstrap: %v %v", st, err)
	}

	_, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("fn"), Role: aws.String("r"),
		Runtime: types.RuntimeProvidedal2, Code: &types.FunctionCode{ZipFile: zip}})
	wantErr(t, err, "ResourceConflictException", "Function already exist: fn", true)

	bad := []struct {
		name string
		in   lambda.CreateFunctionInput
		code string
		msg  string
	}{
		{"not a zip", lambda.CreateFunctionInput{Runtime: types.RuntimeProvided, Code: &types.FunctionCode{ZipFile: []byte("not a zip")}},
			"InvalidParameterValueException", "Could not unzip uploaded file. Please check your file, then try to upload again."},
		{"no bootstrap", lambda.CreateFunctionInput{Runtime: types.RuntimeProvidedal2, Code: &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"main", "x", 0o755})}},
			"InvalidParameterValueException", "bootstrap"},
		{"bootstrap in a folder", lambda.CreateFunctionInput{Runtime: types.RuntimeProvidedal2, Code: &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"bin/bootstrap", "x", 0o755})}},
			"InvalidParameterValueException", "bootstrap"},
		{"bootstrap not executable", lambda.CreateFunctionInput{Runtime: types.RuntimeProvidedal2, Code: &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"bootstrap", "x", 0o644})}},
			"InvalidParameterValueException", "not executable"},
		{"zip slip", lambda.CreateFunctionInput{Runtime: types.RuntimePython312, Handler: aws.String("app.handler"), Code: &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"../../evil.py", "x", 0o644})}},
			"InvalidParameterValueException", "invalid path"},
		{"absolute path", lambda.CreateFunctionInput{Runtime: types.RuntimePython312, Handler: aws.String("app.handler"), Code: &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"/etc/evil", "x", 0o644})}},
			"InvalidParameterValueException", "invalid path"},
		{"unsupported runtime", lambda.CreateFunctionInput{Runtime: types.RuntimeNodejs20x, Handler: aws.String("index.handler"), Code: &types.FunctionCode{ZipFile: zip}},
			"InvalidParameterValueException", "nodejs20.x is not supported"},
		{"invalid runtime", lambda.CreateFunctionInput{Runtime: "cobol", Code: &types.FunctionCode{ZipFile: zip}},
			"ValidationException", "Value 'cobol' at 'runtime' failed to satisfy constraint: Member must satisfy enum value set"},
		{"python without handler", lambda.CreateFunctionInput{Runtime: types.RuntimePython312, Code: &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"app.py", "x", 0o644})}},
			"InvalidParameterValueException", "Handler"},
		{"python bad handler", lambda.CreateFunctionInput{Runtime: types.RuntimePython312, Handler: aws.String("app"), Code: &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"app.py", "x", 0o644})}},
			"InvalidParameterValueException", "module.function"},
		{"timeout 901", lambda.CreateFunctionInput{Runtime: types.RuntimeProvided, Timeout: aws.Int32(901), Code: &types.FunctionCode{ZipFile: zip}},
			"InvalidParameterValueException", "Value '901' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"},
		{"memory 64", lambda.CreateFunctionInput{Runtime: types.RuntimeProvided, MemorySize: aws.Int32(64), Code: &types.FunctionCode{ZipFile: zip}},
			"InvalidParameterValueException", "memorySize"},
		{"reserved env key", lambda.CreateFunctionInput{Runtime: types.RuntimeProvided, Code: &types.FunctionCode{ZipFile: zip},
			Environment: &types.Environment{Variables: map[string]string{"AWS_REGION": "x"}}},
			"InvalidParameterValueException", "Reserved keys used in this request: AWS_REGION"},
		{"S3 code", lambda.CreateFunctionInput{Runtime: types.RuntimeProvided, Code: &types.FunctionCode{S3Bucket: aws.String("b"), S3Key: aws.String("k")}},
			"InvalidParameterValueException", "ZipFile only"},
		{"bad name", lambda.CreateFunctionInput{FunctionName: aws.String("bad name"), Runtime: types.RuntimeProvided, Code: &types.FunctionCode{ZipFile: zip}},
			"ValidationException", "functionName"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if in.FunctionName == nil {
				in.FunctionName = aws.String("bad-" + strings.ReplaceAll(tt.name, " ", "-"))
			}
			in.Role = aws.String("arn:aws:iam::000000000000:role/r")
			_, err := c.CreateFunction(ctx, &in)
			wantErr(t, err, tt.code, tt.msg, false)
		})
	}

	py, err := c.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("py"), Role: aws.String("r"),
		Runtime: types.RuntimePython312, Handler: aws.String("app.handler"), Timeout: aws.Int32(30), MemorySize: aws.Int32(256),
		Environment: &types.Environment{Variables: map[string]string{"GREETING": "hi"}},
		Code:        &types.FunctionCode{ZipFile: makeZip(t, zipEntry{"app.py", "def handler(e, c):\n    return e\n", 0o644}, zipEntry{"pkg/mod.py", "", 0})}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(py.Handler) != "app.handler" || aws.ToInt32(py.Timeout) != 30 || py.Environment.Variables["GREETING"] != "hi" {
		t.Fatalf("python function: %+v", py)
	}

	// Name forms.
	for _, name := range []string{"fn", "fn:$LATEST", "arn:aws:lambda:us-east-1:000000000000:function:fn", "000000000000:function:fn"} {
		got, err := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
		if err != nil {
			t.Fatalf("GetFunction(%s): %v", name, err)
		}
		if aws.ToString(got.Configuration.FunctionName) != "fn" || aws.ToString(got.Code.RepositoryType) != "S3" || aws.ToString(got.Code.Location) == "" {
			t.Fatalf("GetFunction(%s): %+v", name, got)
		}
	}
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("nope")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope", true)
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn"), Qualifier: aws.String("1")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:fn:1", true)
	_, err = c.GetFunctionConfiguration(ctx, &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("arn:aws:lambda:eu-west-1:000000000000:function:fn")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found", false)

	// Code.Location serves the zip back.
	got, _ := c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	code, _, body := rawRequest(t, "GET", aws.ToString(got.Code.Location), "")
	if code != 200 || body != string(zip) {
		t.Fatalf("Code.Location: %d, %d bytes", code, len(body))
	}

	cfg, err := c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"),
		Timeout: aws.Int32(900), MemorySize: aws.Int32(10240), Environment: &types.Environment{Variables: map[string]string{"AB": "1"}}, Handler: aws.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(cfg.Timeout) != 900 || aws.ToInt32(cfg.MemorySize) != 10240 || cfg.Environment.Variables["AB"] != "1" || aws.ToString(cfg.Handler) != "main" {
		t.Fatalf("UpdateFunctionConfiguration: %+v", cfg)
	}
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Timeout: aws.Int32(0)})
	wantErr(t, err, "InvalidParameterValueException", "greater than or equal to 1", false)
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), MemorySize: aws.Int32(10241)})
	wantErr(t, err, "InvalidParameterValueException", "memorySize", false)
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("fn"), Runtime: types.RuntimeJava21})
	wantErr(t, err, "InvalidParameterValueException", "not supported", false)
	_, err = c.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{FunctionName: aws.String("nope"), Timeout: aws.Int32(5)})
	wantErr(t, err, "ResourceNotFoundException", "Function not found", false)

	zip2 := makeZip(t, zipEntry{"bootstrap", "#!/bin/sh\necho v2\n", 0o755})
	sum2 := sha256.Sum256(zip2)
	upd, err := c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: zip2})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(upd.CodeSha256) != base64.StdEncoding.EncodeToString(sum2[:]) || aws.ToInt32(upd.Timeout) != 900 {
		t.Fatalf("UpdateFunctionCode: %+v", upd)
	}
	if _, err := os.Stat(filepath.Join(n.dir, "functions", "fn", hex.EncodeToString(sum2[:]), "bootstrap")); err != nil {
		t.Fatal(err)
	}
	_, err = c.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{FunctionName: aws.String("fn"), ZipFile: makeZip(t, zipEntry{"x", "y", 0o644})})
	wantErr(t, err, "InvalidParameterValueException", "bootstrap", false)

	// Concurrency.
	if _, err := c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(7)}); err != nil {
		t.Fatal(err)
	}
	gc, err := c.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("fn")})
	if err != nil || aws.ToInt32(gc.ReservedConcurrentExecutions) != 7 {
		t.Fatalf("GetFunctionConcurrency: %+v %v", gc, err)
	}
	got, _ = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	if got.Concurrency == nil || aws.ToInt32(got.Concurrency.ReservedConcurrentExecutions) != 7 {
		t.Fatalf("GetFunction Concurrency: %+v", got.Concurrency)
	}
	_, err = c.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String("fn"), ReservedConcurrentExecutions: aws.Int32(-1)})
	wantErr(t, err, "ValidationException", "reservedConcurrentExecutions", false)
	if _, err := c.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	gc, err = c.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String("fn")})
	if err != nil || gc.ReservedConcurrentExecutions != nil {
		t.Fatalf("after delete: %+v %v", gc, err)
	}

	// List with pagination.
	createFunction(t, c, "fn3")
	var names []string
	p := lambda.NewListFunctionsPaginator(c, &lambda.ListFunctionsInput{MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page.Functions {
			names = append(names, aws.ToString(f.FunctionName))
		}
	}
	if strings.Join(names, ",") != "fn,py,fn3" {
		t.Fatalf("ListFunctions: %v", names)
	}

	// Delete.
	if _, err := c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("fn")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:fn", true)
	_, err = c.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String("fn")})
	wantErr(t, err, "ResourceNotFoundException", "Function not found", false)
	if _, err := os.Stat(filepath.Join(n.dir, "functions", "fn")); !os.IsNotExist(err) {
		t.Fatalf("code not removed: %v", err)
	}
}

func TestHTTPTargetFunction(t *testing.T) {
	n := startServer(t, t.TempDir(), nil)
	c := n.client()
	code, _, body := rawRequest(t, "POST", n.url()+"/2015-03-31/functions",
		`{"FunctionName":"web","Role":"arn:aws:iam::000000000000:role/r","KafkaesmHttpTarget":{"Url":"http://127.0.0.1:8080/events"},"Timeout":10}`)
	if code != 201 || !strings.Contains(body, `"KafkaesmHttpTarget":{"Url":"http://127.0.0.1:8080/events"}`) {
		t.Fatalf("create HTTP target: %d %s", code, body)
	}
	got, err := c.GetFunctionConfiguration(testCtx(t), &lambda.GetFunctionConfigurationInput{FunctionName: aws.String("web")})
	if err != nil || aws.ToInt32(got.Timeout) != 10 {
		t.Fatalf("get: %+v %v", got, err)
	}
	code, _, body = rawRequest(t, "POST", n.url()+"/2015-03-31/functions", `{"FunctionName":"web2","KafkaesmHttpTarget":{"Url":"ftp://x"}}`)
	if code != 400 || !strings.Contains(body, "KafkaesmHttpTarget.Url") {
		t.Fatalf("bad URL: %d %s", code, body)
	}
	// A mapping can target it.
	if _, err := c.CreateEventSourceMapping(testCtx(t), kafkaInput("web", "web-topic")); err != nil {
		t.Fatal(err)
	}
}
