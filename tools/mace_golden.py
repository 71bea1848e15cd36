#!/usr/bin/env python3
"""Golden data for hwsim's equivariant ops, made by e3nn (float64).

    python3 tools/mace_golden.py OUT_DIR

Writes OUT_DIR/e3nn_golden.json (committed as test/fixtures/mace/e3nn_golden.json):

  vectors            50 fixed Cartesian vectors (not unit: the SH module normalises them)
  sh                 o3.SphericalHarmonics("1x0e+1x1o+1x2e+1x3o", normalize=True,
                     normalization="component") of each vector: [N, 16]
  sh_cotangent, sh_vjp   a fixed cotangent and d(sum(cot * sh))/d(vectors) by autograd
  wigner_3j          o3.wigner_3j(l1, l2, l3) for every triangle-allowed l1, l2, l3 <= 3
  wigner_d           o3.wigner_D(l, a, b, c), l <= 3, and the rotation matrix
                     o3.angles_to_matrix(a, b, c) for three fixed Euler angle triples
  tensor_product     a channel-wise ("uvu") o3.TensorProduct built as mace-torch builds its
                     conv_tp (tp_out_irreps_with_instructions: irreps_out sorted, instructions
                     re-indexed and sorted by output), shared_weights=False: inputs, per-edge
                     weights, output, the per-path normalisation e3nn applied
                     (instruction.path_weight), and the VJP of a fixed cotangent for each input.

Every input is generated from closed forms (no RNG), so the values can be regenerated
bit for bit; floats go through json (repr: round-trips float64 exactly). Needs torch + e3nn
(the GPU machine has them; everything runs on its CPU).

The code is terse on purpose: the device runner takes a command of at most 2,000
characters and runs in another checkout, so the fixture was made by sending everything
after the line "# --- code ---", i.e.
    B=$(sed '1,/^# --- code ---$/d' tools/mace_golden.py | gzip -9 -n | base64 -w0)
and running  echo $B | base64 -d | gunzip | python3 - "$OUT"  there.
"""
# --- code ---
import json,math,os,sys,torch
from e3nn import o3
torch.set_default_dtype(torch.float64)
T=torch.tensor
L=lambda t:t.detach().reshape(-1).tolist()
def vecs():
 v=[]
 for k in range(3):
  for s in(1.,-1.):
   a=[0.,0.,0.];a[k]=s*(.5+k);v.append(a)
 for x in(1.,-1.):
  for y in(1.,-1.):
   for z in(1.,-1.):v.append([.7*x,1.3*y,.4*z])
 for i in range(36):
  z=1-(2*i+1)/36;r=math.sqrt(1-z*z);p=i*2.399963229728653;n=.3+2.7*((i*7)%11)/10
  v.append([n*r*math.cos(p),n*r*math.sin(p),n*z])
 return v
G=lambda f,E,D:T([[f(e*D+k)for k in range(D)]for e in range(E)])
O={"e3nn_version":__import__("e3nn").__version__,"torch_version":torch.__version__}
I2=o3.Irreps.spherical_harmonics(3)
S=o3.SphericalHarmonics(I2,normalize=True,normalization="component")
V=T(vecs(),requires_grad=True);Y=S(V);N=V.shape[0]
C=G(lambda i:math.sin(.37*i+.1),N,16)
O.update(sh_irreps=str(I2),vectors=L(V),num_vectors=N,sh=L(Y),sh_cotangent=L(C),sh_vjp=L(torch.autograd.grad((Y*C).sum(),V)[0]))
O["wigner_3j"]=[{"l":[a,b,c],"values":L(o3.wigner_3j(a,b,c))}for a in range(4)for b in range(4)for c in range(4)if abs(a-b)<=c<=a+b]
O["wigner_d"]=[{"angles":g,"matrix":L(o3.angles_to_matrix(*map(T,g))),"D":[L(o3.wigner_D(l,*map(T,g)))for l in range(4)]}for g in([.3,1.1,-.7],[2.,-.4,.9],[-1.2,2.5,.25])]
I1=o3.Irreps("3x0e+3x1o+3x2e");tg=o3.Irreps("0e+1o+1e+2e+2o+3o+3e");ol=[];ins=[]
for i,(m,a) in enumerate(I1):
 for j,(_,b) in enumerate(I2):
  for c in a*b:
   if c in tg:ins.append((i,j,len(ol),"uvu",True));ol.append((m,c))
I3,P,_=o3.Irreps(ol).sort()
ins=sorted([(a,b,P[c],d,e)for a,b,c,d,e in ins],key=lambda x:x[2])
tp=o3.TensorProduct(I1,I2,I3,ins,shared_weights=False,internal_weights=False)
E=5;W=tp.weight_numel
x1=G(lambda i:math.cos(.11*i+.3),E,I1.dim).requires_grad_(True)
x2=S(T(vecs()[14:14+E])).detach().requires_grad_(True)
w=G(lambda i:math.sin(.23*i-.5),E,W).requires_grad_(True)
y=tp(x1,x2,w);tc=G(lambda i:math.cos(.19*i),E,I3.dim)
g=torch.autograd.grad((y*tc).sum(),[x1,x2,w])
O["tensor_product"]=dict(irreps_in1=str(I1),irreps_in2=str(I2),irreps_out=str(I3),instructions=[dict(i_in1=q.i_in1,i_in2=q.i_in2,i_out=q.i_out,mode=q.connection_mode,path_weight=q.path_weight)for q in tp.instructions],weight_numel=W,edges=E,x1=L(x1),x2=L(x2),weights=L(w),out=L(y),cotangent=L(tc),grad_x1=L(g[0]),grad_x2=L(g[1]),grad_weights=L(g[2]))
p=os.path.join(sys.argv[1],"e3nn_golden.json");json.dump(O,open(p,"w"),separators=(",",":"));print(p,os.path.getsize(p),I3,len(ins))
