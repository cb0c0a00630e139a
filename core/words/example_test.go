package words_test

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/wasmhole/wasmhole/core/words"
)

func ExampleGenerate() {
	// Real callers pass crypto/rand.Reader; fixed bytes make the output
	// reproducible: 0x69 picks "guitarist" from the odd column for the
	// first word, 0xA9 picks "revenge" from the even column for the second.
	code, err := words.Generate(bytes.NewReader([]byte{0x69, 0xA9}), "7", 2)
	if err != nil {
		panic(err)
	}
	fmt.Println(code)

	random, _ := words.Generate(rand.Reader, "7", 2)
	fmt.Println(words.Validate(random) == nil)
	// Output:
	// 7-guitarist-revenge
	// true
}

func ExampleComplete() {
	fmt.Println(words.Complete("7-gui"))
	fmt.Println(words.Complete("7-guitarist-re"))
	// Output:
	// [7-guitarist]
	// [7-guitarist-rebirth 7-guitarist-reform 7-guitarist-regain 7-guitarist-reindeer 7-guitarist-rematch 7-guitarist-repay 7-guitarist-retouch 7-guitarist-revenge 7-guitarist-reward]
}

func ExampleValidate() {
	fmt.Println(words.Validate("7-guitarist-revenge"))
	fmt.Println(words.Validate("guitarist-revenge"))
	fmt.Println(words.Validate("7-guitarist revenge"))
	// Output:
	// <nil>
	// the code must start with a number followed by '-', like 7-guitarist-revenge ("guitarist" is not a number)
	// the code must not contain spaces ("7-guitarist revenge" has one after "7-guitarist")
}
