module github.com/jsonevent/jsonevent

go 1.26.8
