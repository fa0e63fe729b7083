#include <stdio.h>

int main(void)
{
    printf("tern %s\n", TERN_VERSION);
    return 0;
}
