// Sign in: the form posts itself (no script needed); this only puts the cursor where it is wanted.
const field = document.getElementById("login-name");
if (field && field.value) document.getElementById("login-password").focus();
