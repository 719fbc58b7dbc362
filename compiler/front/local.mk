compiler_libpmmc_a_SOURCES += compiler/front/spec.c compiler/front/yaml_read.c \
	compiler/front/yaml_model.c compiler/front/schedule.c compiler/front/safetensors.c \
	compiler/front/graph_check.c compiler/front/data.c compiler/front/atoms.c \
	compiler/front/layers.c compiler/front/layer_defs.c compiler/front/layer_shapes.c \
	compiler/front/layer_tensors.c
noinst_HEADERS += compiler/front/spec.h compiler/front/weights.h compiler/front/front.h \
	compiler/front/layers.h
