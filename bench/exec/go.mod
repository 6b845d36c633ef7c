module github.com/wsdeck/wsdeck/bench/exec

go 1.26.0
